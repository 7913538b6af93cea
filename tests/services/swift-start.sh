#!/bin/sh
# Throwaway single-replica Swift (SAIO-style, tempauth + s3api) on 127.0.0.1, from
# /work/shared/RECIPES-services.md section 6 with the ports passed in:
#   SWIFT_PORT (proxy), SWIFT_ACCOUNT_PORT, SWIFT_CONTAINER_PORT, SWIFT_OBJECT_PORT, MEMCACHED_PORT.
# State in $1 (wiped). Prints the 5 PIDs (memcached account container object proxy).
# Needs: apt-get install --no-install-recommends swift swift-proxy swift-account swift-container
#        swift-object memcached
set -e
D=$(mkdir -p "$1" && cd "$1" && pwd)
P=$SWIFT_PORT; AP=$SWIFT_ACCOUNT_PORT; CP=$SWIFT_CONTAINER_PORT; OP=$SWIFT_OBJECT_PORT; MP=$MEMCACHED_PORT
rm -rf "$D/etc" "$D/node" "$D/log"; mkdir -p "$D/etc" "$D/node/d1" "$D/log"
cat > "$D/etc/swift.conf" <<CONF
[swift-hash]
swift_hash_path_suffix = test-suffix
swift_hash_path_prefix = test-prefix
[storage-policy:0]
name = gold
default = yes
CONF
common() { cat <<CONF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $1
workers = 0
swift_dir = $D/etc
devices = $D/node
mount_check = false
log_level = WARNING
[pipeline:main]
pipeline = $2-server
[app:$2-server]
use = egg:swift#$2
CONF
}
common "$AP" account > "$D/etc/account-server.conf"
common "$CP" container > "$D/etc/container-server.conf"
common "$OP" object > "$D/etc/object-server.conf"
cat > "$D/etc/proxy-server.conf" <<CONF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $P
workers = 0
swift_dir = $D/etc
log_level = WARNING
[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats bulk s3api tempauth copy slo dlo proxy-logging proxy-server
[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true
allow_account_management = true
[filter:tempauth]
use = egg:swift#tempauth
user_test_tester = testing .admin
[filter:s3api]
use = egg:swift#s3api
location = us-east-1
[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:$MP
[filter:catch_errors]
use = egg:swift#catch_errors
[filter:gatekeeper]
use = egg:swift#gatekeeper
[filter:healthcheck]
use = egg:swift#healthcheck
[filter:proxy-logging]
use = egg:swift#proxy_logging
[filter:listing_formats]
use = egg:swift#listing_formats
[filter:bulk]
use = egg:swift#bulk
[filter:copy]
use = egg:swift#copy
[filter:slo]
use = egg:swift#slo
[filter:dlo]
use = egg:swift#dlo
CONF
cd "$D/etc"
for t in account:$AP container:$CP object:$OP; do
  swift-ring-builder ${t%%:*}.builder create 6 1 1 >/dev/null
  swift-ring-builder ${t%%:*}.builder add r1z1-127.0.0.1:${t##*:}/d1 100 >/dev/null
  swift-ring-builder ${t%%:*}.builder rebalance >/dev/null || [ $? -eq 1 ]   # 1 = warning only
done
memcached -l 127.0.0.1 -p "$MP" -U 0 -m 64 -u root > "$D/log/memcached.log" 2>&1 &
PIDS=$!
for s in account container object proxy; do
  swift-$s-server "$D/etc/$s-server.conf" -v > "$D/log/$s.log" 2>&1 &
  PIDS="$PIDS $!"
done
# The proxy answers auth before the account, container and object servers listen (a PUT then
# gets the proxy's 503): wait until each answers HTTP at all, then for the proxy's auth.
for port in $AP $CP $OP; do
  i=0; until curl -s -o /dev/null "http://127.0.0.1:$port/"; do
    i=$((i+1)); [ $i -lt 150 ] || { tail -n 20 "$D"/log/*.log >&2; kill $PIDS; exit 1; }; sleep 0.2
  done
done
i=0; until curl -sf -o /dev/null -H 'X-Auth-User: test:tester' -H 'X-Auth-Key: testing' "http://127.0.0.1:$P/auth/v1.0"; do
  i=$((i+1)); [ $i -lt 150 ] || { tail -n 20 "$D"/log/*.log >&2; kill $PIDS; exit 1; }; sleep 0.2
done
echo $PIDS
