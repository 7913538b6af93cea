"""What software an image holds: layers read once, whiteouts applied, packages found."""
