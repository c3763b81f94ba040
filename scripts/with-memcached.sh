#!/usr/bin/env bash
# with-memcached.sh CMD...: start memcached on a free loopback port, run CMD
# with the server's address appended (and in $MEMCACHED_SERVER), then stop
# that server by its pid. Extra memcached flags: MEMCACHED_FLAGS.
set -euo pipefail
user_flag=()
[ "$(id -u)" = 0 ] && user_flag=(-u root)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; true; }
trap cleanup EXIT
for attempt in $(seq 1 20); do
  port=$(( 20000 + RANDOM % 30000 ))
  # shellcheck disable=SC2086
  memcached "${user_flag[@]}" -l 127.0.0.1 -p "$port" -U 0 ${MEMCACHED_FLAGS:-} &
  pid=$!
  for _ in $(seq 1 100); do
    if ! kill -0 "$pid" 2>/dev/null; then break; fi
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      export MEMCACHED_SERVER="127.0.0.1:$port"
      echo "memcached pid $pid on $MEMCACHED_SERVER" >&2
      "$@" "$MEMCACHED_SERVER"
      exit $?
    fi
    sleep 0.05
  done
  wait "$pid" 2>/dev/null || true
  pid=""
done
echo "could not start memcached on a free port" >&2
exit 1
