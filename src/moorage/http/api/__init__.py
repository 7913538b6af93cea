"""DTR REST APIs: /api/v0 (repositories, access, settings, tokens) and /enzi/v0 (accounts)."""
