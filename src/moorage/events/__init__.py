"""Domain events: repository activity recorded beside the change (outbox) and buffered pulls."""
