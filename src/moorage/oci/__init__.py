"""Pure OCI knowledge: digests, names, media types, manifest parsing. No I/O."""
