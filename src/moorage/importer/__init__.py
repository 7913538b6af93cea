"""``moorage import``: copy repositories, tags and their permissions from a DTR/MSR or any OCI
registry into this one, through the registry API and DTR's API (a client of both)."""
