#!/usr/bin/env bash
# `make bench`: every benchmark in bench/, each printing ratios against a baseline it
# measures in the same run.
set -euo pipefail
cd "$(dirname "$0")/.."
export SECRET_KEY="${SECRET_KEY:-bench-only-secret-key-0123456789abcdefghijklmnopqrstuvwxyz}"
export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/platform_admin_bench}"
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/15}"
export HTTPS=off NO_GCE_CHECK=true
# bench/health.py loads the web server with wrk (a C client: a Python one on these cores
# would measure itself).
if ! command -v wrk >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi
# The baselines of bench/billing_import.py (pandas, DuckDB): the benchmark's own requirements.
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-bench.txt
for bench in bench/*.py; do
  case "$(basename "$bench")" in __init__.py | _*) continue ;; esac
  echo "== $bench"
  .venv/bin/python "$bench"
done
