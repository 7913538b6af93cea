"""Identity and access: accounts, orgs, teams, grants, credentials, tokens, RBAC, LDAP."""
