#!/usr/bin/env bash
# Start (or reuse) a local Docker engine for the tests: no bridge, no iptables (this machine
# has no network but the package registries), containers use host networking.
#   scripts/docker-engine.sh start   -> prints "started" or "running"; waits until it answers
#   scripts/docker-engine.sh stop    -> stops the engine this script started
set -euo pipefail
PIDFILE=/var/run/layerforge-dockerd.pid
LOG=/var/log/layerforge-dockerd.log

case "${1:-start}" in
  start)
    if docker info >/dev/null 2>&1; then echo running; exit 0; fi
    command -v dockerd >/dev/null || { echo "dockerd is not installed" >&2; exit 1; }
    nohup dockerd --bridge=none --iptables=false --ip6tables=false \
      --host-gateway-ip=127.0.0.1 >"$LOG" 2>&1 &
    echo $! >"$PIDFILE"
    for _ in $(seq 1 60); do
      if docker info >/dev/null 2>&1; then echo started; exit 0; fi
      sleep 1
    done
    echo "dockerd did not answer within 60 s; its log:" >&2
    tail -n 40 "$LOG" >&2
    exit 1
    ;;
  stop)
    if [ -f "$PIDFILE" ]; then
      kill "$(cat "$PIDFILE")" 2>/dev/null || true
      rm -f "$PIDFILE"
    fi
    ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
