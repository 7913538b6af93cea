"""The measured phases of a round, one module per family; each runs on both servers in turn."""
