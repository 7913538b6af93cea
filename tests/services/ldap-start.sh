#!/bin/sh
# Throwaway OpenLDAP on 127.0.0.1:${LDAP_PORT:-5389}; state in $1 (wiped); prints slapd's PID.
# From ../shared/RECIPES-services.md §1 (an AD-shaped test directory), plus optional TLS:
# when $LDAP_TLS_DIR holds cert.pem and key.pem, slapd also offers StartTLS on LDAP_PORT and
# listens for LDAPS on $LDAPS_PORT.
# Needs: apt-get install slapd ldap-utils (preseeded with slapd/no_configuration=true).
set -e
PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH
D=$(mkdir -p "$1" && cd "$1" && pwd); PORT=${LDAP_PORT:-5389}
rm -rf "$D/data"; mkdir -p "$D/data"
cat > "$D/ad-lite.schema" <<'SCHEMA'
# AD-shaped names with real AD OIDs, plus matching rules so (sAMAccountName=x) filters work
attributetype ( 1.2.840.113556.1.4.221 NAME 'sAMAccountName'
    EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch
    SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
attributetype ( 1.2.840.113556.1.4.656 NAME 'userPrincipalName'
    EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch
    SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
attributetype ( 1.2.840.113556.1.4.8 NAME 'userAccountControl'
    EQUALITY integerMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )
objectclass ( 1.2.840.113556.1.5.9 NAME 'user' SUP inetOrgPerson STRUCTURAL
    MAY ( sAMAccountName $ userPrincipalName $ userAccountControl ) )
objectclass ( 1.2.840.113556.1.5.8 NAME 'group' SUP groupOfNames STRUCTURAL
    MAY ( sAMAccountName $ mail ) )
SCHEMA
TLS=""; URLS="ldap://127.0.0.1:$PORT/"
if [ -n "$LDAP_TLS_DIR" ] && [ -f "$LDAP_TLS_DIR/cert.pem" ] && [ -f "$LDAP_TLS_DIR/key.pem" ]; then
  TLS="TLSCertificateFile $LDAP_TLS_DIR/cert.pem
TLSCertificateKeyFile $LDAP_TLS_DIR/key.pem"
  [ -z "$LDAPS_PORT" ] || URLS="$URLS ldaps://127.0.0.1:$LDAPS_PORT/"
fi
cat > "$D/slapd.conf" <<CONF
include   /etc/ldap/schema/core.schema
include   /etc/ldap/schema/cosine.schema
include   /etc/ldap/schema/nis.schema
include   /etc/ldap/schema/inetorgperson.schema
include   $D/ad-lite.schema
pidfile   $D/slapd.pid
argsfile  $D/slapd.args
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload memberof
loglevel  none
$TLS
database  mdb
maxsize   104857600
suffix    "dc=example,dc=org"
rootdn    "cn=admin,dc=example,dc=org"
rootpw    adminpw
directory $D/data
index     objectClass eq
index     uid,mail,cn,sAMAccountName,member eq
overlay   memberof
memberof-refint true
access to attrs=userPassword
    by self write
    by anonymous auth
    by * none
access to *
    by users read
    by * none
CONF
B=dc=example,dc=org
{
printf 'dn: %s\nobjectClass: dcObject\nobjectClass: organization\no: Example\ndc: example\n\n' $B
for ou in people groups svc; do printf 'dn: ou=%s,%s\nobjectClass: organizationalUnit\nou: %s\n\n' $ou $B $ou; done
for u in alice bob carol dave erin; do   # password of each user: <uid>pw
  printf 'dn: uid=%s,ou=people,%s\nobjectClass: inetOrgPerson\nuid: %s\ncn: %s\nsn: %s\nmail: %s@example.org\nuserPassword: %s\n\n' \
    $u $B $u $u $u $u "$(slappasswd -s ${u}pw)"
done
printf 'dn: cn=registry-admins,ou=groups,%s\nobjectClass: groupOfNames\ncn: registry-admins\nmember: uid=alice,ou=people,%s\nmember: uid=bob,ou=people,%s\n\n' $B $B $B
printf 'dn: cn=developers,ou=groups,%s\nobjectClass: groupOfNames\ncn: developers\nmember: uid=bob,ou=people,%s\nmember: uid=carol,ou=people,%s\nmember: uid=dave,ou=people,%s\n\n' $B $B $B $B
# AD-shaped user + group (objectClass user/group, sAMAccountName, userPrincipalName, memberOf via overlay)
printf 'dn: cn=Frank Ford,ou=svc,%s\nobjectClass: user\ncn: Frank Ford\nsn: Ford\nsAMAccountName: ffrank\nuserPrincipalName: ffrank@corp.example.org\nuserAccountControl: 512\nmail: frank@example.org\nuserPassword: frankpw\n\n' $B
printf 'dn: cn=Registry Users,ou=svc,%s\nobjectClass: group\ncn: Registry Users\nsAMAccountName: registry-users\nmember: cn=Frank Ford,ou=svc,%s\nmember: uid=erin,ou=people,%s\n' $B $B $B
} > "$D/seed.ldif"
slaptest -Q -u -f "$D/slapd.conf"
# -d 0: stay in the foreground (no fork) so $! is slapd itself
slapd -h "$URLS" -f "$D/slapd.conf" -d 0 > "$D/slapd.log" 2>&1 &
PID=$!
i=0; until ldapsearch -x -H "ldap://127.0.0.1:$PORT" -b "" -s base namingContexts >/dev/null 2>&1; do
  i=$((i+1)); [ $i -lt 100 ] || { cat "$D/slapd.log" >&2; kill $PID; exit 1; }; sleep 0.1
done
# load online (not slapadd): slapadd bypasses overlays, so memberOf would stay empty
ldapadd -x -H "ldap://127.0.0.1:$PORT" -D "cn=admin,$B" -w adminpw -f "$D/seed.ldif" >/dev/null
echo $PID
