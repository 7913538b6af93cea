"""Docker Content Trust: a Notary v1 (TUF) server inside the registry.

``canonical`` (the bytes that are signed), ``keys`` (key ids, signature checks, the server's own
keys), ``metadata`` (the four roles and delegations, parsed), ``validation`` (what Notary's
server checks before it accepts an update), ``signing`` (the timestamp and snapshot the server
signs), ``store`` (the SQL rows), ``service`` (publish, read, keys, delete, changefeed), ``gun``
(a GUN and the repository it names). The HTTP routes live in ``moorage.http.v2.trust``.

Written here rather than on python-tuf or securesystemslib: those do not know Notary's key types
(``ecdsa-x509``, ``rsa-x509``: root keys are X.509 certificates whose common name is the GUN),
its raw ``r||s`` ECDSA signatures, or the Notary server's rules (validation.go) this mirrors.
"""
