"""The registry domain: repositories, uploads, blobs, manifests, tags, referrers."""
