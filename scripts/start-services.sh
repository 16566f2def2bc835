#!/usr/bin/env bash
# Best effort: start the local PostgreSQL and NATS (JetStream) servers the scale-out tests use, when they
# are installed but not running. Tests skip (or fail with CI=true) on whatever is still unreachable.
set -uo pipefail
up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
if ! up 5432 && command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
  for version in $(ls /etc/postgresql); do
    pg_ctlcluster --skip-systemctl-redirect "$version" main start >/dev/null 2>&1 || true
  done
fi
if ! up 4222 && [ -x /usr/sbin/nats-server ] && command -v start-stop-daemon >/dev/null; then
  mkdir -p /var/lib/nats-server
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
    -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log >/dev/null 2>&1 || true
fi
for _ in $(seq 50); do up 5432 && up 4222 && break; sleep 0.1; done
exit 0
