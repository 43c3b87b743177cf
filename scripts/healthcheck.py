"""Container HEALTHCHECK: GET /healthz with a Host header the app accepts."""

import os
import sys
import urllib.request

host = (os.environ.get("ALLOWED_HOSTS", "localhost").split(",")[0] or "localhost").strip()
request = urllib.request.Request(
    f"http://127.0.0.1:{os.environ.get('PORT', '8080')}/healthz",
    headers={"Host": host.lstrip(".")},
)
try:
    with urllib.request.urlopen(request, timeout=4) as response:  # noqa: S310 - loopback only
        sys.exit(0 if response.status == 200 else 1)
except Exception as exc:  # noqa: BLE001
    print(f"unhealthy: {exc}", file=sys.stderr)
    sys.exit(1)
