"""The traffic model behind the sandbox's metrics.

Each Cloud Run service receives `rps` requests per second, split between revisions by
the traffic split in effect at each moment (the recorded history), so a window's
numbers integrate exactly over the history segments, then get a little seeded noise.
Error rate and latency per revision come from its fault profile.
"""

import math
from dataclasses import dataclass

from . import det, faults

CODE_OF_CLASS = {"2xx": "200", "4xx": "404", "5xx": "503"}


@dataclass
class Series:
    """One raw time series: labels plus one value (or None = no point) per window."""

    metric: dict
    resource: dict
    values: list


def share_seconds(history: list, revision: str, start: float, end: float) -> float:
    """Seconds × traffic share of `revision` in [start, end]; the first split extends back."""
    total = 0.0
    for i, (since, split) in enumerate(history):
        seg_start = -math.inf if i == 0 else since
        seg_end = history[i + 1][0] if i + 1 < len(history) else math.inf
        overlap = min(end, seg_end) - max(start, seg_start)
        if overlap > 0:
            total += overlap * split.get(revision, 0) / 100.0
    return total


def revisions_in(history: list, start: float, end: float) -> list[str]:
    names: list[str] = []
    for i, (since, split) in enumerate(history):
        seg_end = history[i + 1][0] if i + 1 < len(history) else math.inf
        if (i == 0 or since < end) and seg_end > start:
            names += [r for r, pct in split.items() if pct > 0 and r not in names]
    return names


def _profile(state, svc: dict, short: str) -> dict:
    rev = state.data["revisions"].get(f"{svc['name']}/revisions/{short}")
    image = rev["image"] if rev else ""
    return faults.revision_profile(state, svc["project"], svc["short"], image, short)


def request_counts(state, svc: dict, short: str, window: tuple, now: float) -> dict:
    """Requests of one revision in one window, by response code class (floats)."""
    start, end = window
    history = state.data["history"].get(svc["name"], [])
    seconds = share_seconds(history, short, start, min(end, now))
    total = state.options.rps * seconds * det.jitter(0.03, "rc", svc["name"], short, start, end)
    profile = _profile(state, svc, short)
    errors = total * profile["error_rate"] * det.jitter(0.1, "5xx", short, start, end)
    client = total * faults.CLIENT_ERROR_RATE
    return {"2xx": max(total - errors - client, 0.0), "4xx": client, "5xx": errors}


def p95_ms(state, svc: dict, short: str, window: tuple) -> float:
    base = float(_profile(state, svc, short)["p95_ms"])
    return base * det.jitter(0.05, "p95", svc["name"], short, window[0], window[1])


def cpu_utilization(inst: dict, window: tuple, now: float) -> float | None:
    start, end = window
    if start >= now:
        return None
    if inst["reset_until"] > start and inst["reset_until"] - inst.get("reset_for", 0) < end:
        return 0.02  # rebooting: nearly idle
    return round(0.18 + 0.14 * det.unit("cpu", inst["id"], int(start // 60)), 4)


def run_series(
    state, services: list, revision_filter, windows: list, now: float, metric: str
) -> list[Series]:
    """Raw per-revision series (per class for request_count) over `windows`."""
    out = []
    span = (windows[-1][0], windows[0][1])
    for svc in services:
        history = state.data["history"].get(svc["name"], [])
        for short in revisions_in(history, *span):
            if revision_filter and short not in revision_filter:
                continue
            resource = {
                "project_id": svc["project"],
                "service_name": svc["short"],
                "revision_name": short,
                "location": svc["location"],
                "configuration_name": svc["short"],
            }
            if metric == "request_count":
                out += _count_series(state, svc, short, resource, windows, now)
            elif metric == "billable_instance_time":
                out.append(_instance_time_series(state, svc, short, resource, windows, now))
            else:
                out.append(_latency_series(state, svc, short, resource, windows, now))
    return out


def _count_series(state, svc, short, resource, windows, now) -> list[Series]:
    per_window = [request_counts(state, svc, short, w, now) for w in windows]
    series = []
    for cls, code in CODE_OF_CLASS.items():
        values = [round(c[cls]) or None for c in per_window]
        series.append(
            Series({"response_code_class": cls, "response_code": code}, dict(resource), values)
        )
    return series


def _instance_time_series(state, svc, short, resource, windows, now) -> Series:
    """Billable instance seconds of a revision per window: its requests × the seconds
    each costs (its profile's cost factor), with a little seeded noise."""
    factor = float(_profile(state, svc, short)["cost_factor"])
    values = []
    for w in windows:
        served = sum(request_counts(state, svc, short, w, now).values())
        seconds = served * faults.INSTANCE_SECONDS_PER_REQUEST * factor
        values.append(seconds * det.jitter(0.03, "bit", short, w[0], w[1]) if served else None)
    return Series({}, dict(resource), values)


def _latency_series(state, svc, short, resource, windows, now) -> Series:
    values = []
    for w in windows:
        served = sum(request_counts(state, svc, short, w, now).values())
        values.append(p95_ms(state, svc, short, w) if served >= 0.5 else None)
    return Series({}, dict(resource), values)


def vm_series(state, instances: list, windows: list, now: float) -> list[Series]:
    out = []
    for inst in instances:
        resource = {"project_id": inst["project"], "instance_id": inst["id"], "zone": inst["zone"]}
        values = [cpu_utilization(inst, w, now) for w in windows]
        out.append(Series({"instance_name": inst["name"]}, resource, values))
    return out
