"""Cloud Monitoring v3 (gRPC ListTimeSeries): request counts, P95 latency, VM CPU.

Each question is answered with one aggregated query over the whole window: the
alignment period is the window length (at least 60 s, the smallest period the real API
accepts for an aligner), so Google returns one point per series, or two when the window
straddles an alignment boundary. Points are summed (counts) or maxed (P95), so either
shape gives the same answer.
"""

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from platform_admin import gcp

REQUEST_COUNT = "run.googleapis.com/request_count"
REQUEST_LATENCIES = "run.googleapis.com/request_latencies"
VM_CPU = "compute.googleapis.com/instance/cpu/utilization"
MIN_ALIGNMENT_SECONDS = 60


@dataclass(frozen=True)
class RevisionMetrics:
    """Requests, server errors and P95 latency of one revision over a window."""

    requests: int
    errors: int  # 5xx responses
    p95_ms: float | None  # None when no requests were served

    @property
    def error_rate(self) -> float:
        """Share of requests answered with 5xx; 0.0 without requests."""
        return self.errors / self.requests if self.requests else 0.0


def _types():
    from google.cloud import monitoring_v3

    return monitoring_v3


def _run_filter(metric: str, service: str, revision: str | None = None) -> str:
    clauses = [
        f'metric.type="{metric}"',
        'resource.type="cloud_run_revision"',
        f'resource.labels.service_name="{service}"',
    ]
    if revision:
        clauses.append(f'resource.labels.revision_name="{revision}"')
    return " AND ".join(clauses)


def _aggregation(start: datetime, end: datetime, aligner, reducer, group_by: list[str]):
    seconds = max(math.ceil((end - start).total_seconds()), MIN_ALIGNMENT_SECONDS)
    return {
        "alignment_period": timedelta(seconds=seconds),
        "per_series_aligner": aligner,
        "cross_series_reducer": reducer,
        "group_by_fields": group_by,
    }


def _series(project: str, what: str, flt: str, start, end, aggregation) -> list:
    """All time series of one ListTimeSeries query (every page), as protos."""
    if end <= start:
        raise gcp.GcpInvalidRequest(f"the window for {what} ends before it starts")
    monitoring_v3 = _types()
    request = {
        "name": f"projects/{project}",
        "filter": flt,
        "interval": {"start_time": start, "end_time": end},
        "aggregation": aggregation,
        "view": monitoring_v3.ListTimeSeriesRequest.TimeSeriesView.FULL,
    }
    with gcp.translate(f"reading {what}", project, api="monitoring"):
        pager = gcp.metric_client().list_time_series(
            request=request, timeout=gcp.timeout(), retry=gcp.retry_policy()
        )
        return list(pager)


def _number(point) -> float:
    value = point.value
    # A oneof: int64 for counts, double for aligned percentiles and ratios.
    if "int64_value" in value:
        return float(value.int64_value)
    return float(value.double_value)


def _counts(project, service, revision, start, end) -> dict[tuple[str, str], int]:
    """{(revision, response code class): requests} over the window."""
    agg = _types().Aggregation
    aggregation = _aggregation(
        start,
        end,
        agg.Aligner.ALIGN_DELTA,
        agg.Reducer.REDUCE_SUM,
        ["resource.label.revision_name", "metric.label.response_code_class"],
    )
    flt = _run_filter(REQUEST_COUNT, service, revision)
    out: dict[tuple[str, str], int] = {}
    for ts in _series(project, f"request counts of {service}", flt, start, end, aggregation):
        key = (
            ts.resource.labels.get("revision_name", ""),
            ts.metric.labels.get("response_code_class", ""),
        )
        out[key] = out.get(key, 0) + round(sum(_number(p) for p in ts.points))
    return out


def _p95(project, service, revision, start, end) -> dict[str, float]:
    """{revision: P95 latency in ms} — the worst aligned P95 over the window."""
    agg = _types().Aggregation
    aggregation = _aggregation(
        start,
        end,
        agg.Aligner.ALIGN_PERCENTILE_95,
        agg.Reducer.REDUCE_MAX,
        ["resource.label.revision_name"],
    )
    flt = _run_filter(REQUEST_LATENCIES, service, revision)
    out: dict[str, float] = {}
    for ts in _series(project, f"latencies of {service}", flt, start, end, aggregation):
        if ts.points:
            name = ts.resource.labels.get("revision_name", "")
            out[name] = max([out.get(name, 0.0)] + [_number(p) for p in ts.points])
    return out


def _combine(counts: dict, p95: dict, revision: str) -> RevisionMetrics:
    requests = sum(n for (rev, _), n in counts.items() if rev == revision)
    errors = sum(n for (rev, cls), n in counts.items() if rev == revision and cls == "5xx")
    return RevisionMetrics(
        requests=requests, errors=errors, p95_ms=p95.get(revision) if requests else None
    )


def revision_metrics(
    project: str, service: str, revision: str, start: datetime, end: datetime
) -> RevisionMetrics:
    """Requests, 5xx errors and P95 of one revision between `start` and `end` (aware UTC)."""
    counts = _counts(project, service, revision, start, end)
    p95 = _p95(project, service, revision, start, end)
    return _combine(counts, p95, revision)


def service_metrics(
    project: str, service: str, start: datetime, end: datetime
) -> dict[str, RevisionMetrics]:
    """The same figures for every revision that served requests in the window."""
    counts = _counts(project, service, None, start, end)
    p95 = _p95(project, service, None, start, end)
    revisions = sorted({rev for rev, _ in counts})
    return {rev: _combine(counts, p95, rev) for rev in revisions}


def vm_cpu_utilization(
    project: str, instance_id: str, start: datetime, end: datetime
) -> float | None:
    """Mean CPU utilisation (0..1) of a VM over the window; None without data."""
    agg = _types().Aggregation
    aggregation = _aggregation(start, end, agg.Aligner.ALIGN_MEAN, agg.Reducer.REDUCE_MEAN, [])
    flt = (
        f'metric.type="{VM_CPU}" AND resource.type="gce_instance" '
        f'AND resource.labels.instance_id="{instance_id}"'
    )
    values = [
        _number(p)
        for ts in _series(project, f"CPU of VM {instance_id}", flt, start, end, aggregation)
        for p in ts.points
    ]
    return sum(values) / len(values) if values else None
