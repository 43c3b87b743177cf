#!/usr/bin/env bash
# `make run`: the dashboard with demo data on the embedded defaults (SQLite, a private
# redis-server under var/, an RQ worker with the scheduler, the GCP sandbox, runserver).
# Ctrl-C stops everything this script started.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
mkdir -p var
export DEBUG="${DEBUG:-1}"

pids=()
cleanup() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup INT TERM EXIT

if [ -z "${REDIS_URL:-}" ]; then
  if ! command -v redis-server >/dev/null; then
    echo "redis-server is not installed: apt-get install redis-server (Debian/Ubuntu) or brew install redis (macOS), or set REDIS_URL." >&2
    exit 1
  fi
  port="${REDIS_PORT:-6390}"
  redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir var \
    --logfile redis.log &
  pids+=($!)
  export REDIS_URL="redis://127.0.0.1:$port/0"
  for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
fi

if [ -z "${GCP_API_ENDPOINT:-}" ]; then
  # 200 requests/s per service: enough for a 5% canary to reach min_requests in a demo bake.
  $PY -m sandbox --http 127.0.0.1:8085 --grpc 127.0.0.1:8086 --rps 200 \
    --platform platform.example.toml --state var/sandbox.json &
  pids+=($!)
  export GCP_API_ENDPOINT=http://127.0.0.1:8085 GCP_GRPC_ENDPOINT=127.0.0.1:8086
  export NO_GCE_CHECK=true
fi

$PY manage.py migrate --noinput -v0
$PY manage.py seed_demo
$PY manage.py rqworker deploys default billing --with-scheduler &
pids+=($!)
echo "Dashboard: http://127.0.0.1:8000  (Ctrl-C stops everything)"
$PY manage.py runserver 127.0.0.1:8000 &
pids+=($!)
wait -n "${pids[@]}"
