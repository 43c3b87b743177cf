"""Cloud Monitoring v3 (gRPC ListTimeSeries): request counts, P95 latency, VM CPU.

Each question is answered with one aggregated query over the whole window: the
alignment period is the window length (at least 60 s, the smallest period the real API
accepts for an aligner), so Google returns one point per series, or two when the window
straddles an alignment boundary. Points are summed (counts) or maxed (P95), so either
shape gives the same answer.
"""

import math
import operator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from platform_admin import gcp

REQUEST_COUNT = "run.googleapis.com/request_count"
REQUEST_LATENCIES = "run.googleapis.com/request_latencies"
INSTANCE_TIME = "run.googleapis.com/container/billable_instance_time"
VM_CPU = "compute.googleapis.com/instance/cpu/utilization"
MIN_ALIGNMENT_SECONDS = 60


@dataclass(frozen=True)
class RevisionMetrics:
    """Requests, server errors and P95 latency of one revision over a window."""

    requests: int
    errors: int  # 5xx responses
    p95_ms: float | None  # None when no requests were served
    # Billable instance time (seconds) over the window, where it was asked for.
    instance_seconds: float | None = None

    @property
    def error_rate(self) -> float:
        """Share of requests answered with 5xx; 0.0 without requests."""
        return self.errors / self.requests if self.requests else 0.0


def _types():
    from google.cloud import monitoring_v3

    return monitoring_v3


def _run_filter(metric: str, services: tuple[str, ...], revision: str | None = None) -> str:
    if len(services) == 1:
        service_clause = f'resource.labels.service_name="{services[0]}"'
    else:
        service_clause = "resource.labels.service_name=one_of({})".format(
            ",".join(f'"{name}"' for name in services)
        )
    clauses = [f'metric.type="{metric}"', 'resource.type="cloud_run_revision"', service_clause]
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
    if "double_value" in value:
        return float(value.double_value)
    # Not a count nor an aligned figure: a response this code cannot read. Raised as a
    # crash, not a Google error: the engine records it and tries again later.
    raise ValueError(f"Cloud Monitoring returned a point without a number: {value}")


BY_REVISION = ["resource.label.service_name", "resource.label.revision_name"]


def _key(ts) -> tuple[str, str]:
    labels = ts.resource.labels
    return labels.get("service_name", ""), labels.get("revision_name", "")


def _counts(project, services, revision, start, end) -> dict[tuple[str, str, str], int]:
    """{(service, revision, response code class): requests} over the window."""
    agg = _types().Aggregation
    aggregation = _aggregation(
        start,
        end,
        agg.Aligner.ALIGN_DELTA,
        agg.Reducer.REDUCE_SUM,
        [*BY_REVISION, "metric.label.response_code_class"],
    )
    flt = _run_filter(REQUEST_COUNT, services, revision)
    what = f"request counts of {', '.join(services)}"
    out: dict[tuple[str, str, str], int] = {}
    for ts in _series(project, what, flt, start, end, aggregation):
        key = (*_key(ts), ts.metric.labels.get("response_code_class", ""))
        out[key] = out.get(key, 0) + round(sum(_number(p) for p in ts.points))
    return out


def _p95(project, services, revision, start, end) -> dict[tuple[str, str], float]:
    """{(service, revision): P95 latency in ms}: the worst aligned P95 over the window."""
    agg = _types().Aggregation
    aggregation = _aggregation(
        start, end, agg.Aligner.ALIGN_PERCENTILE_95, agg.Reducer.REDUCE_MAX, BY_REVISION
    )
    flt = _run_filter(REQUEST_LATENCIES, services, revision)
    out: dict[tuple[str, str], float] = {}
    for ts in _series(project, f"latencies of {', '.join(services)}", flt, start, end, aggregation):
        if ts.points:
            key = _key(ts)
            out[key] = max([out.get(key, 0.0)] + [_number(p) for p in ts.points])
    return out


def _instance_time(project, services, start, end) -> dict[tuple[str, str], float]:
    """{(service, revision): billable instance seconds} over the window."""
    agg = _types().Aggregation
    aggregation = _aggregation(
        start, end, agg.Aligner.ALIGN_DELTA, agg.Reducer.REDUCE_SUM, BY_REVISION
    )
    flt = _run_filter(INSTANCE_TIME, services)
    what = f"billable instance time of {', '.join(services)}"
    out: dict[tuple[str, str], float] = {}
    for ts in _series(project, what, flt, start, end, aggregation):
        key = _key(ts)
        out[key] = out.get(key, 0.0) + sum(_number(p) for p in ts.points)
    return out


def _combine(
    counts: dict, p95: dict, service: str, revision: str, seconds: dict | None = None
) -> RevisionMetrics:
    mine = {cls: n for (svc, rev, cls), n in counts.items() if (svc, rev) == (service, revision)}
    requests = sum(mine.values())
    return RevisionMetrics(
        requests=requests,
        errors=mine.get("5xx", 0),
        p95_ms=p95.get((service, revision)) if requests else None,
        instance_seconds=None if seconds is None else seconds.get((service, revision), 0.0),
    )


def revision_metrics(
    project: str, service: str, revision: str, start: datetime, end: datetime
) -> RevisionMetrics:
    """Requests, 5xx errors and P95 of one revision between `start` and `end` (aware UTC)."""
    counts = _counts(project, (service,), revision, start, end)
    p95 = _p95(project, (service,), revision, start, end)
    return _combine(counts, p95, service, revision)


def services_metrics(
    project: str,
    services: list[str],
    start: datetime,
    end: datetime,
    instance_time: bool = False,
) -> dict[str, dict[str, RevisionMetrics]]:
    """{service: {revision: figures}} for every revision of `services` that served requests
    in the window: two queries (counts, latencies) however many services, a third with
    `instance_time` (the billable instance seconds, what the requests cost to serve)."""
    names = tuple(services)
    if not names:
        return {}
    counts = _counts(project, names, None, start, end)
    p95 = _p95(project, names, None, start, end)
    seconds = _instance_time(project, names, start, end) if instance_time else None
    out: dict[str, dict[str, RevisionMetrics]] = {name: {} for name in names}
    for service, revision in sorted({(svc, rev) for svc, rev, _ in counts}):
        if service in out:
            out[service][revision] = _combine(counts, p95, service, revision, seconds)
    return out


def service_metrics(
    project: str, service: str, start: datetime, end: datetime
) -> dict[str, RevisionMetrics]:
    """The same figures for every revision of one service that served requests."""
    return services_metrics(project, [service], start, end)[service]


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


# --- Health sampling: the same metrics, one point per alignment period ---------------


@dataclass(frozen=True)
class BucketFigures:
    """One revision's traffic in one aligned bucket (health samples)."""

    requests: int
    errors_5xx: int
    errors_4xx: int
    p95_ms: float | None
    p50_ms: float | None


def _bucket_start(point, period: timedelta) -> datetime:
    # Counts (DELTA) carry [start, end]; aligned percentiles are instants at the end.
    end = point.interval.end_time.timestamp()
    return datetime.fromtimestamp(end - period.total_seconds(), UTC)


def _bucketed(project, what, flt, window, aligner, reducer, group_by, combine):
    """{(service, revision, code class, bucket start): value} of one query aligned to
    the window's period; `combine` merges two points that land on the same key."""
    start, end, period = window
    aggregation = {
        "alignment_period": period,
        "per_series_aligner": aligner,
        "cross_series_reducer": reducer,
        "group_by_fields": group_by,
    }
    out: dict[tuple, float] = {}
    for ts in _series(project, what, flt, start, end, aggregation):
        labels = (*_key(ts), ts.metric.labels.get("response_code_class", ""))
        for point in ts.points:
            key = (*labels, _bucket_start(point, period))
            out[key] = combine(out[key], _number(point)) if key in out else _number(point)
    return out


def revision_buckets(
    project: str, services: list[str], start: datetime, end: datetime, period: timedelta
) -> dict[tuple[str, str, datetime], BucketFigures]:
    """{(service, revision, bucket start): figures} for every bucket of `period` in
    [start, end] (aligned by the caller) in which a revision served requests.

    Three queries however many services: counts by response code class, P95, P50.
    """
    if not services:
        return {}
    agg = _types().Aggregation
    names, window = tuple(services), (start, end, period)
    counts = _bucketed(
        project,
        f"request counts of {', '.join(names)}",
        _run_filter(REQUEST_COUNT, names),
        window,
        agg.Aligner.ALIGN_DELTA,
        agg.Reducer.REDUCE_SUM,
        [*BY_REVISION, "metric.label.response_code_class"],
        operator.add,
    )
    latencies = {
        name: _bucketed(
            project,
            f"{name} latencies of {', '.join(names)}",
            _run_filter(REQUEST_LATENCIES, names),
            window,
            aligner,
            agg.Reducer.REDUCE_MAX,
            BY_REVISION,
            max,
        )
        for name, aligner in (
            ("P95", agg.Aligner.ALIGN_PERCENTILE_95),
            ("P50", agg.Aligner.ALIGN_PERCENTILE_50),
        )
    }
    return _bucket_figures(counts, latencies["P95"], latencies["P50"])


def _bucket_figures(counts: dict, p95: dict, p50: dict) -> dict:
    by_class: dict[tuple, dict[str, int]] = {}
    for (service, revision, cls, at), n in counts.items():
        by_class.setdefault((service, revision, at), {})[cls] = round(n)
    out = {}
    for (service, revision, at), classes in by_class.items():
        requests = sum(classes.values())
        if requests:
            out[(service, revision, at)] = BucketFigures(
                requests=requests,
                errors_5xx=classes.get("5xx", 0),
                errors_4xx=classes.get("4xx", 0),
                p95_ms=p95.get((service, revision, "", at)),
                p50_ms=p50.get((service, revision, "", at)),
            )
    return out
