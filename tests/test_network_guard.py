"""The test run itself cannot reach beyond loopback: the guard refuses before any packet."""

import socket

import pytest
import requests

from tests.network_guard import NetworkGuardError


def test_connecting_beyond_loopback_fails():
    with (
        socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock,
        pytest.raises(NetworkGuardError, match="only connect to loopback"),
    ):
        sock.connect(("192.0.2.10", 443))  # TEST-NET-1: refused before any packet


def test_resolving_a_google_host_fails():
    with pytest.raises(NetworkGuardError, match="only resolve loopback"):
        socket.getaddrinfo("run.googleapis.com", 443)


def test_http_client_to_the_metadata_server_fails():
    with pytest.raises((NetworkGuardError, requests.exceptions.ConnectionError), match="loopback"):
        requests.get("http://169.254.169.254/computeMetadata/v1/", timeout=1)


def test_loopback_is_allowed(sandbox):
    assert requests.get(f"{sandbox.http_url}/sandbox/v1/state", timeout=5).status_code == 200
