"""Typed readers for settings that come from the environment.

Every reader fails loudly with ``ImproperlyConfigured`` on a value it cannot use, so a
mistyped variable stops start-up instead of surfacing as a 500 later. ``NAME_FILE``
(a path) may stand in for ``NAME`` so secrets can be mounted as files.
"""

import os
from decimal import Decimal, InvalidOperation
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str | None = None) -> str | None:
    file_path = os.environ.get(f"{name}_FILE")
    if file_path:
        try:
            return Path(file_path).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE={file_path!r} cannot be read: {exc}") from exc
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean (use true/false, 1/0, on/off)")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer") from exc


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a number") from exc
    if not value >= 0 or value == float("inf"):
        raise ImproperlyConfigured(f"{name}={raw!r} must be a finite number, 0 or more")
    return value


def env_decimal(name: str, default: str) -> Decimal:
    """An amount of money: exact, finite, 0 or more."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        raw = default
    try:
        value = Decimal(raw.strip())
    except InvalidOperation as exc:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an amount like 1.50") from exc
    if not value.is_finite() or value < 0:
        raise ImproperlyConfigured(f"{name}={raw!r} must be a finite amount, 0 or more")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def cpus_available(cgroup: Path = Path("/sys/fs/cgroup")) -> int:
    """The CPUs this process may use: those it may run on, fewer if its cgroup's CPU
    quota is smaller (a container given 1.5 CPUs on a bigger host gets 2)."""
    cpus = len(os.sched_getaffinity(0))
    quota = _cgroup_quota(cgroup)
    return cpus if quota is None else max(1, min(cpus, -(-quota[0] // quota[1])))


def _cgroup_quota(cgroup: Path) -> tuple[int, int] | None:
    """(quota, period) in microseconds, from cgroup v2's cpu.max or v1's cfs files."""
    try:
        fields = (cgroup / "cpu.max").read_text().split()
    except OSError:
        try:
            fields = [
                (cgroup / "cpu" / f"cpu.cfs_{name}_us").read_text().strip()
                for name in ("quota", "period")
            ]
        except OSError:
            return None
    if len(fields) != 2 or not all(f.lstrip("-").isdigit() for f in fields):
        return None  # "max 100000": no quota
    quota, period = int(fields[0]), int(fields[1])
    return (quota, period) if quota > 0 and period > 0 else None
