#!/usr/bin/env bash
# `make bench`: every benchmark in bench/, each printing ratios against a baseline it
# measures in the same run.
set -euo pipefail
cd "$(dirname "$0")/.."
export SECRET_KEY="${SECRET_KEY:-bench-only-secret-key-0123456789abcdefghijklmnopqrstuvwxyz}"
export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/platform_admin_bench}"
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/15}"
export HTTPS=off NO_GCE_CHECK=true
for bench in bench/*.py; do
  [ "$(basename "$bench")" = "__init__.py" ] && continue
  echo "== $bench"
  .venv/bin/python "$bench"
done
