#!/usr/bin/env bash
# `make run`: the dashboard with demo data on the embedded defaults. SQLite under var/, a
# private redis-server under var/ (when REDIS_URL is unset), the GCP sandbox (when
# GCP_API_ENDPOINT is unset), migrate and seed_demo, then exactly the Procfile's lines
# under honcho: web (gunicorn on 127.0.0.1:8000), deploys, worker and cron.
# Ctrl-C or SIGTERM stops everything this script started.
set -euo pipefail
cd "$(dirname "$0")/.."
# The Procfile says `python` and `gunicorn`: the venv's, for honcho's processes too.
export PATH="$PWD/.venv/bin:$PATH"
mkdir -p var
export DEBUG="${DEBUG:-1}"

if ! command -v honcho >/dev/null; then
  echo "honcho is not in .venv: run \`make run\` (it installs requirements-dev.txt)." >&2
  exit 1
fi

pids=()       # redis-server and the sandbox
honcho_pid=""
# The sessions that $1 or a process under it leads, holding processes under $1
# (comma-separated; empty where ps cannot say). Never the terminal's: its leader is not
# under $1.
sessions_under() {
  ps -A -o pid= -o ppid= -o sid= 2>/dev/null | awk -v root="$1" '
    { parent[$1] = $2; session[$1] = $3 }
    END {
      for (p in parent) {
        q = p
        while (q in parent && q != root && q > 1) q = parent[q]
        if (q == root) under[p] = 1
      }
      for (p in under) if (session[p] in under) found[session[p]] = 1
      for (s in found) printf "%s%s", (n++ ? "," : ""), s
    }'
}
cleanup() {
  # A second Ctrl-C while stopping must not end this script before what it started.
  trap - EXIT
  trap '' INT TERM
  # honcho first, while Redis and the sandbox still answer: it sends SIGTERM to each
  # Procfile process's group and SIGKILL to what is left after 5 s, then exits. RQ's work
  # horse (a job in progress: an import, a rollout pass) has a group of its own: what is
  # left of the sessions honcho started its processes in is killed after that.
  if [ -n "$honcho_pid" ]; then
    echo "Stopping (a job in progress is stopped too) ..." >&2
    local sessions
    sessions=$(sessions_under "$honcho_pid")
    kill -TERM "$honcho_pid" 2>/dev/null || true
    # honcho waits for its processes' output to end, which a work horse still holds: past
    # honcho's own SIGKILL (5 s), the horse goes too (its job stops, as a killed worker's).
    for _ in $(seq 70); do kill -0 "$honcho_pid" 2>/dev/null || break; sleep 0.1; done
    if [ -n "$sessions" ]; then pkill -KILL -s "$sessions" 2>/dev/null || true; fi
    wait "$honcho_pid" 2>/dev/null || true
  fi
  for pid in ${pids[@]+"${pids[@]}"}; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM
trap cleanup EXIT
# Each background process in its own process group: Ctrl-C reaches this script only, and
# cleanup stops honcho's processes before the Redis and sandbox they use.
set -m

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
  python -m sandbox --http 127.0.0.1:8085 --grpc 127.0.0.1:8086 --rps 200 \
    --platform platform.example.toml --state var/sandbox.json &
  pids+=($!)
  export GCP_API_ENDPOINT=http://127.0.0.1:8085 GCP_GRPC_ENDPOINT=127.0.0.1:8086
  export NO_GCE_CHECK=true
fi

python manage.py migrate --noinput -v0
python manage.py seed_demo

echo "Dashboard: http://127.0.0.1:8000  (Ctrl-C stops everything)"
# -p 8000: honcho gives the Procfile's first line (web) PORT=8000. -e /dev/null: no .env
# file, so every process sees the environment set above, as migrate and seed_demo did.
honcho start -f Procfile -e /dev/null -p 8000 &
honcho_pid=$!
# Whichever stops first (honcho stops when any Procfile process does) ends the run.
wait -n "$honcho_pid" ${pids[@]+"${pids[@]}"}
