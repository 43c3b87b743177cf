"""Leases: which pass holds a rollout, for how long, kept alive while the pass runs.

A pass takes the rollout's lease (`Rollout.lease_owner`, `lease_until`) in a short
transaction before it calls Google and gives it back with its result. While it waits on
Google, one thread per process renews the leases its passes hold every RENEW_SECONDS.
A SIGKILLed worker renews nothing: its leases lapse within LEASE_SECONDS and the tick
hands the rollout to another worker.
"""

import logging
import threading
import time
from contextlib import contextmanager
from datetime import timedelta
from functools import reduce
from operator import or_

from django.db import close_old_connections, connection
from django.db.models import Q
from django.utils import timezone

log = logging.getLogger(__name__)

LEASE_SECONDS = 6.0
RENEW_SECONDS = 2.0

_held: dict[int, str] = {}  # rollout id -> owner, for the passes running in this process
_held_lock = threading.Lock()
_renewer: threading.Thread | None = None


def lease_end():
    return timezone.now() + timedelta(seconds=LEASE_SECONDS)


@contextmanager
def held(rollout_id: int, owner: str):
    """Keep the lease of `owner` on the rollout alive for the duration of the block."""
    _start_renewer()
    with _held_lock:
        _held[rollout_id] = owner
    try:
        yield
    finally:
        with _held_lock:
            _held.pop(rollout_id, None)


def _start_renewer() -> None:
    global _renewer
    with _held_lock:
        if _renewer is None or not _renewer.is_alive():
            _renewer = threading.Thread(target=_renew_forever, name="lease-renewer", daemon=True)
            _renewer.start()


def _renew_forever() -> None:
    while True:
        time.sleep(RENEW_SECONDS)
        try:
            close_old_connections()  # this thread's own connection
            renew()
        except Exception:  # a database blip: try again next round, the lease has slack
            log.exception("renewing rollout leases failed")
            connection.close()


def renew() -> int:
    """Push back the lease of every pass this process is running (one UPDATE)."""
    from deployments.models import Rollout

    with _held_lock:
        held_now = dict(_held)
    if not held_now:
        return 0
    match = reduce(or_, (Q(pk=pk, lease_owner=owner) for pk, owner in held_now.items()))
    return Rollout.objects.filter(match).update(lease_until=lease_end())
