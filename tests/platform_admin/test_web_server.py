"""The Procfile's web server as it runs: a slow client's upload (an export file over an
office link) is not cut off; WEB_TIMEOUT, when set, bounds a request."""

import os
import re
import shlex
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from django.db import connection

from tests.conftest import REPO

pytestmark = pytest.mark.django_db(transaction=True)
SECONDS = 4  # the upload's duration: longer than the WEB_TIMEOUT below


def _web_command(values: dict) -> list[str]:
    line = next(x for x in (REPO / "Procfile").read_text().splitlines() if x.startswith("web:"))
    words = shlex.split(line.partition(":")[2])
    words = [re.sub(r"\$\{(\w+):-([^}]*)\}", lambda m: values.get(m[1]) or m[2], w) for w in words]
    assert words[0] == "gunicorn"
    return [sys.executable, "-m", "gunicorn", *words[1:]]


@pytest.fixture
def web(tmp_path):
    started = []

    def start(**extra) -> int:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        db = connection.settings_dict
        env = {
            **os.environ,
            "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
            "WEB_CONCURRENCY": "1",
            "ALLOWED_HOSTS": "127.0.0.1",
            **extra,
        }
        values = {**env, "PORT": str(port), "WEB_BIND": "127.0.0.1"}
        log = open(tmp_path / f"web-{port}.log", "wb")  # noqa: SIM115 - closed below
        process = subprocess.Popen(_web_command(values), cwd=REPO, env=env, stdout=log, stderr=log)
        started.append((process, log))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                    return port
            except OSError:
                time.sleep(0.2)
        raise AssertionError("the web server did not start")

    yield start
    for process, log in started:
        process.terminate()
        process.wait(timeout=10)
        log.close()


def _slow_post(port: int) -> bytes:
    """A form POST whose body arrives over SECONDS; returns the response's status line
    (b"" when the server closed the connection without answering)."""
    body = b"file=" + b"x" * 40_000
    head = (
        f"POST /login/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=SECONDS + 30) as sock:
        sock.sendall(head)
        pieces = 20
        step = len(body) // pieces
        try:
            for i in range(pieces):
                sock.sendall(body[i * step : (i + 1) * step if i < pieces - 1 else None])
                time.sleep(SECONDS / pieces)
            return sock.makefile("rb").readline()
        except (ConnectionResetError, BrokenPipeError):
            return b""


def test_a_slow_upload_is_not_cut_off(web):
    port = web()

    status = _slow_post(port)

    assert status.startswith(b"HTTP/1.1 403")  # answered: the form had no CSRF token


def test_web_timeout_bounds_a_request(web):
    port = web(WEB_TIMEOUT="1")

    assert _slow_post(port) in (b"", b"HTTP/1.1 500 Internal Server Error\r\n")
