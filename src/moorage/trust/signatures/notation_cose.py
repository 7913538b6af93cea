"""Notation's COSE envelope (the Notary Project's ``signature-envelope-cose.md``), read into the
same ``notation.Envelope`` as JWS and checked by the same rules.

The blob (``application/cose``) is a ``COSE_Sign1_Tagged`` (CBOR tag 18) of four items: the
protected header (a byte string holding a CBOR map), the unprotected header (a map), the
payload (the Notary payload JSON; a detached payload is refused) and the signature. In the
protected map label 1 is ``alg`` (ES256 -7, ES384 -35, ES512 -36, PS256 -37, PS384 -38, PS512
-39, IANA's values), label 2 ``crit``, label 3 the content type, and the ``io.cncf.notary``
headers have their names as text labels (times as epoch date/times, CBOR tag 1). The chain is
``x5chain`` (label 33) in the unprotected header, or the protected one: DER certificates, leaf
first (one certificate may be a single byte string). What is signed is the CBOR encoding of
``["Signature1", protected bytes, h'', payload]``; ECDSA signatures are raw ``r||s``, as in JWS.

Decoded with ``cbor2`` (a dependency for this module only); the rest is written here, as for
JWS, because COSE libraries know neither Notary's headers nor its certificate rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import cbor2

from moorage.trust.signatures.notation import Envelope, EnvelopeInvalid, certificates

COSE_SIGN1_TAG = 18
ALG, CRIT, CONTENT_TYPE, X5CHAIN = 1, 2, 3, 33
ALGORITHMS = {-7: "ES256", -35: "ES384", -36: "ES512", -37: "PS256", -38: "PS384", -39: "PS512"}


def _loads(data: bytes, what: str) -> Any:
    try:
        return cbor2.loads(data)
    except (cbor2.CBORDecodeError, ValueError, TypeError, OverflowError, RecursionError) as exc:
        raise EnvelopeInvalid(f"{what} is not CBOR") from exc


def _chain(protected: Mapping[Any, Any], unprotected: Mapping[Any, Any]) -> list[Any]:
    value = protected.get(X5CHAIN, unprotected.get(X5CHAIN))
    ders = [value] if isinstance(value, bytes) else value
    if not isinstance(ders, list | tuple) or not all(isinstance(d, bytes) for d in ders):
        raise EnvelopeInvalid("the envelope needs x5chain (label 33): the certificate chain")
    return certificates(ders)


def parse_cose(envelope: bytes) -> Envelope:
    doc = _loads(envelope, "the envelope")
    if not isinstance(doc, cbor2.CBORTag) or doc.tag != COSE_SIGN1_TAG:
        raise EnvelopeInvalid("the envelope is not a COSE_Sign1_Tagged")
    items = doc.value  # cbor2 hands a tag's arrays and maps over as tuples and frozen maps
    if not isinstance(items, list | tuple) or len(items) != 4:
        raise EnvelopeInvalid("a COSE_Sign1 has four items")
    protected_bytes, unprotected, payload, signature = items
    if payload is None:
        raise EnvelopeInvalid("a detached payload is not supported")
    if not (
        isinstance(protected_bytes, bytes)
        and isinstance(unprotected, Mapping)
        and isinstance(payload, bytes)
        and isinstance(signature, bytes)
    ):
        raise EnvelopeInvalid("a COSE_Sign1 is [bstr, map, bstr, bstr]")
    protected = _loads(protected_bytes, "the protected header")
    if not isinstance(protected, Mapping):
        raise EnvelopeInvalid("the protected header must be a map")
    certs = _chain(protected, unprotected)
    named: dict[str, Any] = {k: v for k, v in protected.items() if isinstance(k, str)}
    alg = protected.get(ALG)
    named["alg"] = ALGORITHMS.get(alg, str(alg)) if isinstance(alg, int) else str(alg)[:20]
    named["cty"] = protected.get(CONTENT_TYPE)
    crit = protected.get(CRIT)
    named["crit"] = [str(c) for c in crit] if isinstance(crit, list | tuple) else crit
    to_be_signed = cbor2.dumps(["Signature1", protected_bytes, b"", payload])
    return Envelope(named, certs, to_be_signed, signature, payload)
