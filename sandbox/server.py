"""The HTTP side: one routing table for every REST API, injected faults, the request log."""

import json
import re
import sys
import time
import traceback
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from . import bigquery, catalog, cloudrun, cloudrun_jobs, compute, control, faults, storage
from .errors import ApiError

MAX_LOGGED_BODY = 16_384


@dataclass
class Request:
    method: str
    path: str
    query: dict
    body: dict | None
    now: float = field(default_factory=time.time)


def _compile_routes() -> list:
    routes = []
    for module in (cloudrun, cloudrun_jobs, compute, storage, catalog, bigquery, control):
        for method, pattern, fn, *flags in module.ROUTES:
            routes.append((method, re.compile(pattern + "$"), fn, "unlocked" in flags))
    return routes


ROUTES = _compile_routes()


MALFORMED = {"malformed": True}  # sent as an HTML page, not JSON (`Handler._send`)


def dispatch(state, req: Request) -> tuple[int, dict]:
    """Route one request; every failure comes back in Google's error shape."""
    try:
        if not req.path.startswith(("/sandbox/v1/",)) or req.path.startswith("/sandbox/v1/health/"):
            injected = faults.take_api_fault(state, req.method, req.path)
            if injected is not None:
                raise injected
        for method, pattern, fn, unlocked in ROUTES:
            if method != req.method or not (m := pattern.match(req.path)):
                continue
            if unlocked:
                return fn(state, req, m.groupdict())
            with state.lock:
                state.settle()
                return fn(state, req, m.groupdict())
        raise ApiError(404, f"No such API in the sandbox: {req.method} {req.path}")
    except ApiError as exc:
        return exc.code, exc.body()
    except faults.Malformed:
        return 200, MALFORMED
    except Exception as exc:  # a sandbox bug: say so loudly, in Google's shape
        traceback.print_exc(file=sys.stderr)
        return 500, ApiError(500, f"Sandbox internal error: {exc!r}").body()


def serve(state, req: Request, logged_body=None, transport: str = "") -> tuple[int, dict]:
    """Dispatch `req` and add it to the request log (`transport`: "grpc" when it came in
    as a gRPC call served by its REST route)."""
    status, payload = dispatch(state, req)
    entry = {
        "method": req.method,
        "path": req.path,
        "query": req.query,
        "time": req.now,
        "status": status,
        "body": logged_body,
    }
    if transport:
        entry["transport"] = transport
    state.log_request(entry)
    return status, payload


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the clients reuse connections
    # Headers and body go out in two writes; with Nagle's algorithm on a kept-alive
    # connection the body waited for the client's delayed ACK: 40 ms a response.
    disable_nagle_algorithm = True

    def do_GET(self):
        self._handle()

    do_POST = do_PATCH = do_PUT = do_DELETE = do_GET

    def _handle(self) -> None:
        state = self.server.state
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw.strip() else None
        except ValueError:
            self._send(400, ApiError(400, "Request body is not valid JSON.").body())
            return
        req = Request(self.command, url.path, query, body)
        logged = body if len(raw) <= MAX_LOGGED_BODY else None
        self._send(*serve(state, req, logged))

    def _send(self, status: int, payload) -> None:
        if isinstance(payload, storage.Raw):  # object bytes, the site's pages
            self.send_response(status)
            self.send_header("Content-Type", payload.content_type)
            for name, value in payload.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload.data)))
            self.end_headers()
            self.wfile.write(payload.data)
            return
        html = payload is MALFORMED  # what a broken proxy in the way answers
        data = b"<html><body>Bad gateway</body></html>" if html else json.dumps(payload).encode()
        self.send_response(status)
        kind = "text/html" if html else "application/json; charset=UTF-8"
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        """Silent: the request log (GET /sandbox/v1/requests) replaces access logging."""


class SandboxHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], state):
        super().__init__(address, Handler)
        self.state = state
