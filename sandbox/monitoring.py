"""Cloud Monitoring v3 over gRPC: ListTimeSeries for Cloud Run and Compute metrics."""

import re
import sys
import time
import traceback
from concurrent import futures
from datetime import UTC, datetime

import grpc
from google.cloud import monitoring_v3

from . import cloudrun_grpc
from . import metrics_model as mm
from .errors import ApiError
from .faults import Malformed, take_api_fault

Aligner = monitoring_v3.Aggregation.Aligner
Reducer = monitoring_v3.Aggregation.Reducer
Kind = monitoring_v3.TimeSeries.meta.fields["metric_kind"].enum
ValueType = monitoring_v3.TimeSeries.meta.fields["value_type"].enum
METHOD = "/google.monitoring.v3.MetricService/ListTimeSeries"
RUN_METRICS = {
    "run.googleapis.com/request_count": "request_count",
    "run.googleapis.com/request_latencies": "request_latencies",
    "run.googleapis.com/container/billable_instance_time": "billable_instance_time",
}
INSTANCE_TIME = "run.googleapis.com/container/billable_instance_time"
CPU_METRIC = "compute.googleapis.com/instance/cpu/utilization"
PERCENTILE_SCALE = {
    Aligner.ALIGN_PERCENTILE_99: 1.4,
    Aligner.ALIGN_PERCENTILE_95: 1.0,
    Aligner.ALIGN_PERCENTILE_50: 0.45,
    Aligner.ALIGN_PERCENTILE_05: 0.2,
    Aligner.ALIGN_MEAN: 0.5,
}
MAX_WINDOWS = 1440
CLAUSE = re.compile(r"^\s*([\w.]+)\s*(=|!=)\s*(.+?)\s*$", re.S)


def parse_filter(text: str) -> dict[str, tuple[str, list[str]]]:
    """{'resource.labels.service_name': ('=', ['api-server']), ...}"""
    out = {}
    for clause in re.split(r"\s+AND\s+", text.strip(), flags=re.I):
        m = CLAUSE.match(clause)
        if not m:
            raise ApiError(400, f"The sandbox cannot parse the filter clause: {clause!r}")
        key = re.sub(r"^(resource|metric)\.label\.", r"\1.labels.", m[1])
        raw = m[3]
        if raw.startswith("one_of("):
            values = re.findall(r'"([^"]*)"', raw)
        elif raw.startswith('"') and raw.endswith('"'):
            values = [raw[1:-1]]
        else:
            raise ApiError(400, f"Unsupported filter value (use quotes or one_of): {raw!r}")
        out[key] = (m[2], values)
    if "metric.type" not in out:
        raise ApiError(400, "The filter must name a metric.type.")
    return out


def _accepts(flt: dict, key: str, value: str) -> bool:
    if key not in flt:
        return True
    op, values = flt[key]
    return (value in values) == (op == "=")


def windows_for(start: float, end: float, period: float) -> list[tuple[float, float]]:
    """Newest first: one window per alignment period, clipped at the interval start."""
    out = []
    w_end = end
    while w_end > start and len(out) < MAX_WINDOWS:
        out.append((max(start, w_end - period), w_end))
        w_end -= period
    return out


def _epoch(ts) -> float | None:
    return ts.timestamp() if ts is not None else None


def _run_scope(state, project: str, flt: dict) -> tuple[list, list | None]:
    services = [
        s
        for s in state.data["services"].values()
        if s["project"] == project
        and _accepts(flt, "resource.labels.service_name", s["short"])
        and _accepts(flt, "resource.labels.location", s["location"])
    ]
    rev = flt.get("resource.labels.revision_name")
    return services, (rev[1] if rev and rev[0] == "=" else None)


def raw_series(state, project: str, flt: dict, windows: list, now: float) -> list[mm.Series]:
    metric_type = flt["metric.type"][1][0]
    if metric_type in RUN_METRICS:
        services, revs = _run_scope(state, project, flt)
        series = mm.run_series(state, services, revs, windows, now, RUN_METRICS[metric_type])
        rev_filter = "resource.labels.revision_name"
        series = [s for s in series if _accepts(flt, rev_filter, s.resource["revision_name"])]
    elif metric_type == CPU_METRIC:
        instances = [
            i
            for i in state.data["instances"].values()
            if i["project"] == project
            and _accepts(flt, "resource.labels.instance_id", i["id"])
            and _accepts(flt, "resource.labels.zone", i["zone"])
            and _accepts(flt, "metric.labels.instance_name", i["name"])
        ]
        series = mm.vm_series(state, instances, windows, now)
    else:
        raise ApiError(400, f"The sandbox has no data for metric.type {metric_type!r}.")
    return [
        s
        for s in series
        if all(_accepts(flt, f"metric.labels.{k}", v) for k, v in s.metric.items())
    ]


def align(series: list, metric_type: str, aligner, windows: list) -> tuple[list, int, int]:
    """Apply the per-series aligner; returns (series, metric kind, value type)."""
    if metric_type == "run.googleapis.com/request_count":
        if aligner in (Aligner.ALIGN_NONE, Aligner.ALIGN_DELTA, Aligner.ALIGN_SUM):
            return series, Kind.DELTA, ValueType.INT64
        if aligner == Aligner.ALIGN_RATE:
            for s in series:
                s.values = [
                    None if v is None else v / max(b - a, 1e-9)
                    for v, (a, b) in zip(s.values, windows, strict=True)
                ]
            return series, Kind.GAUGE, ValueType.DOUBLE
    elif metric_type == INSTANCE_TIME:
        if aligner in (Aligner.ALIGN_NONE, Aligner.ALIGN_DELTA, Aligner.ALIGN_SUM):
            return series, Kind.DELTA, ValueType.DOUBLE
        if aligner == Aligner.ALIGN_RATE:
            for s in series:
                s.values = [
                    None if v is None else v / max(b - a, 1e-9)
                    for v, (a, b) in zip(s.values, windows, strict=True)
                ]
            return series, Kind.GAUGE, ValueType.DOUBLE
    elif metric_type == "run.googleapis.com/request_latencies":
        if aligner in PERCENTILE_SCALE:
            scale = PERCENTILE_SCALE[aligner]
            for s in series:
                s.values = [None if v is None else round(v * scale, 3) for v in s.values]
            return series, Kind.GAUGE, ValueType.DOUBLE
    elif aligner in (Aligner.ALIGN_NONE, Aligner.ALIGN_MEAN, Aligner.ALIGN_MAX, Aligner.ALIGN_MIN):
        return series, Kind.GAUGE, ValueType.DOUBLE
    raise ApiError(
        400, f"The sandbox does not support aligner {Aligner(aligner).name} for {metric_type}."
    )


def _label(series: mm.Series, field: str) -> tuple[str, str, str]:
    m = re.match(r"^(metric|resource)\.labels?\.(\w+)$", field)
    if not m:
        raise ApiError(400, f"Unsupported groupByFields entry: {field!r}")
    labels = series.metric if m[1] == "metric" else series.resource
    return m[1], m[2], labels.get(m[2], "")


REDUCERS = {
    Reducer.REDUCE_SUM: sum,
    Reducer.REDUCE_MAX: max,
    Reducer.REDUCE_MIN: min,
    Reducer.REDUCE_MEAN: lambda vs: sum(vs) / len(vs),
    Reducer.REDUCE_COUNT: len,
}


def reduce(series: list, reducer, group_by: list, value_type: int) -> tuple[list, int]:
    if reducer == Reducer.REDUCE_NONE:
        return series, value_type
    fn = REDUCERS.get(reducer)
    if fn is None:
        raise ApiError(400, f"The sandbox does not support reducer {Reducer(reducer).name}.")
    groups: dict[tuple, list] = {}
    for s in series:
        groups.setdefault(tuple(_label(s, f) for f in group_by), []).append(s)
    out = []
    for key, members in groups.items():
        values = []
        for i in range(len(members[0].values)):
            present = [m.values[i] for m in members if m.values[i] is not None]
            values.append(fn(present) if present else None)
        metric = {name: v for kind, name, v in key if kind == "metric"}
        resource = {name: v for kind, name, v in key if kind == "resource"}
        out.append(mm.Series(metric, resource, values))
    if reducer == Reducer.REDUCE_MEAN:
        value_type = ValueType.DOUBLE
    elif reducer == Reducer.REDUCE_COUNT:
        value_type = ValueType.INT64
    return out, value_type


def _point(window: tuple, value: float, kind: int, value_type: int) -> monitoring_v3.Point:
    start, end = window
    start = start if kind == Kind.DELTA else end  # gauges are instants
    typed = (
        {"int64_value": int(round(value))}
        if value_type == ValueType.INT64
        else {"double_value": float(value)}
    )
    return monitoring_v3.Point(
        interval={
            "start_time": datetime.fromtimestamp(start, UTC),
            "end_time": datetime.fromtimestamp(end, UTC),
        },
        value=typed,
    )


def to_proto(series: list, metric_type: str, kind: int, value_type: int, windows: list):
    resource_type = "gce_instance" if metric_type == CPU_METRIC else "cloud_run_revision"
    out = []
    for s in series:
        points = [
            _point(w, v, kind, value_type)
            for w, v in zip(windows, s.values, strict=True)
            if v is not None
        ]
        if points:
            out.append(
                monitoring_v3.TimeSeries(
                    metric={"type": metric_type, "labels": s.metric},
                    resource={"type": resource_type, "labels": s.resource},
                    metric_kind=kind,
                    value_type=value_type,
                    points=points,
                )
            )
    return out


def list_time_series(state, request) -> monitoring_v3.ListTimeSeriesResponse:
    project = request.name.split("/")[-1]
    flt = parse_filter(request.filter)
    now = time.time()
    end = _epoch(request.interval.end_time) or now
    agg = request.aggregation
    period = agg.alignment_period.total_seconds() if agg.alignment_period else 60.0
    start = _epoch(request.interval.start_time) or end - period
    windows = windows_for(start, end, max(period, 1.0))
    if not windows:
        raise ApiError(400, "The interval's start time must be before its end time.")
    metric_type = flt["metric.type"][1][0]
    with state.lock:
        state.settle()
        series = raw_series(state, project, flt, windows, now)
    series, kind, value_type = align(series, metric_type, agg.per_series_aligner, windows)
    series, value_type = reduce(
        series, agg.cross_series_reducer, list(agg.group_by_fields), value_type
    )
    protos = to_proto(series, metric_type, kind, value_type, windows)
    offset = int(request.page_token or 0)
    size = request.page_size or 100_000
    token = str(offset + size) if offset + size < len(protos) else ""
    return monitoring_v3.ListTimeSeriesResponse(
        time_series=protos[offset : offset + size], next_page_token=token
    )


def _malformed(response):
    """The same series, every point holding a boolean where a number belongs."""
    for series in response.time_series:
        for point in series.points:
            point.value = monitoring_v3.TypedValue(bool_value=True)
    return response


def _handler(state):
    def handle(request, context):
        status = 200
        try:
            injected = take_api_fault(state, "GRPC", METHOD)
            if isinstance(injected, Malformed):
                return _malformed(list_time_series(state, request))
            if injected is not None:
                raise injected
            return list_time_series(state, request)
        except ApiError as exc:
            status = exc.code
            context.abort(exc.grpc_code(), exc.message)
        except Exception as exc:  # a sandbox bug: report it rather than hang the client
            status = 500
            traceback.print_exc(file=sys.stderr)
            context.abort(grpc.StatusCode.INTERNAL, f"Sandbox internal error: {exc!r}")
        finally:
            state.log_request(
                {
                    "method": "GRPC",
                    "path": METHOD,
                    "query": {},
                    "time": time.time(),
                    "status": status,
                    "body": {"filter": request.filter},
                }
            )

    return handle


def start_grpc(state, address: str) -> tuple[grpc.Server, int]:
    """The sandbox's gRPC server: Monitoring, and Cloud Run (`cloudrun_grpc`)."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    handler = grpc.method_handlers_generic_handler(
        "google.monitoring.v3.MetricService",
        {
            "ListTimeSeries": grpc.unary_unary_rpc_method_handler(
                _handler(state),
                request_deserializer=monitoring_v3.ListTimeSeriesRequest.deserialize,
                response_serializer=monitoring_v3.ListTimeSeriesResponse.serialize,
            ),
        },
    )
    server.add_generic_rpc_handlers((handler,))
    cloudrun_grpc.add_to(server, state)  # Cloud Run Admin v2 over gRPC on the same port
    port = server.add_insecure_port(address)
    server.start()
    return server, port
