"""The rules shared by the API, the web UI and the token service.

Above ``registry`` and ``auth``: these modules combine repository facts with the permission
rules, so ``http/api``, ``http/ui`` and ``http/token`` ask one place and cannot drift apart.
"""
