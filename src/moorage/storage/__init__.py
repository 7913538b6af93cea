"""Blob byte stores behind one small async interface (see ``base.StorageDriver``)."""
