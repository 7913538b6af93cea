"""Signatures stored beside the images they sign, recognised and verified.

``verdict`` (what one signature comes to: its kind, who, verified or why not), ``cosign``
(sigstore's simple-signing payload and layer-annotation signature), ``notation`` (the Notary
Project's JWS envelope, its X.509 chain and the checks every envelope gets), ``notation_cose``
(its COSE envelope), ``trust_stores`` (the keys and root certificates an administrator
registers per repository or namespace, ``db/signature_tables.py``), ``notary_targets`` (the
Docker Content Trust roles whose targets list a digest, checked again on the stored metadata),
``dct_referrers`` and ``dct_records`` (a Docker Content Trust chain recorded as an OCI referrer:
its format, the offline check, the migration of a repository's signed tags), ``view`` (every
signature of a page of manifests: Notary, Notary records, cosign, Notation).

Written here on ``cryptography`` rather than on sigstore-python or notation-py: those verify
against Fulcio/Rekor or read a local trust policy file; a registry needs only the published
formats checked against the trust its administrators registered.
"""
