#!/usr/bin/env bash
# Make sure PostgreSQL and Mosquitto run on this machine (start them when they do not).
set -euo pipefail
cmd=${1:-start}
[ "$cmd" = start ] || { echo "usage: $0 start" >&2; exit 2; }

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
mq_up() { (exec 3<>/dev/tcp/127.0.0.1/1883) 2>/dev/null; }

if ! pg_up; then
  ver=$(ls /etc/postgresql 2>/dev/null | sort -n | tail -1)
  if [ -z "$ver" ]; then echo "PostgreSQL is not installed" >&2; exit 1; fi
  pg_ctlcluster --skip-systemctl-redirect "$ver" main start || true
  for _ in $(seq 1 60); do pg_up && break; sleep 0.5; done
fi
pg_up || { echo "PostgreSQL did not start" >&2; exit 1; }
echo "PostgreSQL: up on 127.0.0.1:5432"

if ! mq_up; then
  mkdir -p /run/mosquitto && chown mosquitto /run/mosquitto 2>/dev/null || true
  mosquitto -d -c /etc/mosquitto/mosquitto.conf
  for _ in $(seq 1 40); do mq_up && break; sleep 0.25; done
fi
mq_up || { echo "Mosquitto did not start" >&2; exit 1; }
echo "Mosquitto: up on 127.0.0.1:1883"
