"""Security scanning: what software every layer holds, and which known vulnerabilities affect it.

inventory (layers read once, whiteouts applied; OS and language package analysers), versions
(ordering per ecosystem), osv (OSV records and range matching), vulndb (the vulnerability database
in SQL, its online and offline updates).
"""
