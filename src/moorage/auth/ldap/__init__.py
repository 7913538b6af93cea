"""LDAP and Active Directory, as DTR (through enzi) had them.

``config`` the settings (one ``site_settings`` document, the reader's password sealed) and the
periodic sync's cron · ``teams`` a team's member sync config · ``directory`` the LDAP server
through ldap3 (blocking; run in a thread) · ``login`` directory logins and JIT provisioning ·
``sync`` one sync run · ``records`` the ``ldap_syncs`` history. The sync runs as the
``ldapsync`` job (``moorage.jobs.ldapsync``), scheduled by the job runner's crons.
"""
