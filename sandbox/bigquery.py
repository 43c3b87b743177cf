"""BigQuery v2 over REST: jobs.insert/get, getQueryResults and jobs.query.

Queries run synchronously at insert time against the synthetic billing export; the
job is stored (in memory) so the client's polling and paging calls can read it back.
"""

import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal

from . import bq_eval, bq_sql
from .bq_terms import parse_timestamp
from .errors import ApiError, not_found

PROJECT = r"/bigquery/v2/projects/(?P<project>[^/]+)"
DEFAULT_PAGE = 10_000


def _param_value(ptype: dict, pvalue: dict):
    kind = ptype.get("type", "STRING")
    if kind == "ARRAY":
        return [_param_value(ptype["arrayType"], v) for v in pvalue.get("arrayValues", [])]
    raw = pvalue.get("value")
    if raw is None:
        return None
    converters = {
        "INT64": int,
        "INTEGER": int,
        "FLOAT64": float,
        "FLOAT": float,
        "NUMERIC": float,
        "BIGNUMERIC": float,
        "BOOL": lambda v: v == "true",
        "BOOLEAN": lambda v: v == "true",
        "TIMESTAMP": parse_timestamp,
    }
    return converters.get(kind, str)(raw)


def query_params(raw: list | None) -> dict:
    return {
        p.get("name", ""): _param_value(p.get("parameterType", {}), p.get("parameterValue", {}))
        for p in raw or []
    }


def _execute(state, sql: str, params: list | None) -> dict:
    """Run the query; the result (or the error) is what a job stores."""
    try:
        query = bq_sql.parse(sql or "", query_params(params))
        schema, rows = bq_eval.run(state.platform, query, datetime.now(UTC))
    except ApiError as exc:
        return {
            "error": {
                "reason": exc.reason or "invalidQuery",
                "location": "query",
                "message": exc.message,
            }
        }
    return {"schema": schema, "rows": rows}


def _encode(field: dict, value):
    if value is None:
        return {"v": None}
    if field.get("mode") == "REPEATED":
        single = dict(field, mode="NULLABLE")
        return {"v": [_encode(single, v) for v in value]}
    if field["type"] == "RECORD":
        return {"v": {"f": [_encode(f, value.get(f["name"])) for f in field["fields"]]}}
    return {"v": _scalar(field["type"], value)}


def _scalar(kind: str, value) -> str:
    if kind == "TIMESTAMP":
        ts = value if isinstance(value, datetime) else parse_timestamp(value)
        return str(int(ts.timestamp() * 1_000_000))  # useInt64Timestamp: microseconds
    if kind == "FLOAT":
        return repr(float(value))
    if kind == "NUMERIC":
        return str(Decimal(value).normalize()) if Decimal(value) else "0"
    if kind == "INTEGER":
        return str(int(value))
    if kind == "BOOLEAN":
        return "true" if value else "false"
    return str(value)


def encode_rows(schema: list, rows: list) -> list[dict]:
    if rows and isinstance(rows[0], dict):
        return [_encode({"type": "RECORD", "fields": schema}, r)["v"] for r in rows]
    return [{"f": [_encode(f, v) for f, v in zip(schema, r, strict=True)]} for r in rows]


def _job_resource(job: dict) -> dict:
    status = {"state": "DONE"}
    if "error" in job:
        status.update(errorResult=job["error"], errors=[job["error"]])
    ms = str(int(job["created"] * 1000))
    return {
        "kind": "bigquery#job",
        "id": f"{job['project']}:{job['location']}.{job['id']}",
        "jobReference": _ref(job),
        "status": status,
        "configuration": {"jobType": "QUERY", "query": job["config"]},
        "statistics": {
            "creationTime": ms,
            "startTime": ms,
            "endTime": ms,
            "totalBytesProcessed": "0",
            "query": {"totalBytesProcessed": "0", "cacheHit": False, "statementType": "SELECT"},
        },
        "user_email": "sandbox@example.com",
    }


def _ref(job: dict) -> dict:
    return {"projectId": job["project"], "jobId": job["id"], "location": job["location"]}


def _new_job(state, project: str, ref: dict, config: dict) -> dict:
    job = {
        "id": ref.get("jobId") or f"job_{uuid.uuid4().hex}",
        "project": project,
        "location": ref.get("location") or "US",
        "config": config,
        "created": time.time(),
    }
    job.update(_execute(state, config.get("query", ""), config.get("queryParameters")))
    state.jobs[(project, job["id"])] = job
    return job


def insert_job(state, req, m):
    body = req.body or {}
    config = body.get("configuration", {}).get("query")
    if config is None:
        raise ApiError(400, "The sandbox BigQuery runs query jobs only.", reason="invalid")
    ref = body.get("jobReference", {})
    if (m["project"], ref.get("jobId")) in state.jobs:
        raise ApiError(
            409, f"Already Exists: Job {m['project']}:US.{ref['jobId']}", reason="duplicate"
        )
    return 200, _job_resource(_new_job(state, m["project"], ref, config))


def _find_job(state, m) -> dict:
    job = state.jobs.get((m["project"], m["job"]))
    if job is None:
        raise not_found(f"Not found: Job {m['project']}:{m['job']}")
    return job


def get_job(state, req, m):
    return 200, _job_resource(_find_job(state, m))


def _page(job: dict, query: dict, max_results) -> dict:
    start = int(query.get("pageToken") or query.get("startIndex") or 0)
    size = DEFAULT_PAGE if max_results in (None, "") else int(max_results)
    rows = job["rows"][start : start + size]
    out = {
        "schema": {"fields": job["schema"]},
        "jobReference": _ref(job),
        "totalRows": str(len(job["rows"])),
        "jobComplete": True,
        "cacheHit": False,
        "totalBytesProcessed": "0",
    }
    if rows:
        out["rows"] = encode_rows(job["schema"], rows)
    if start + size < len(job["rows"]):
        out["pageToken"] = str(start + size)
    return out


def _raise_job_error(job: dict) -> None:
    if "error" in job:
        raise ApiError(400, job["error"]["message"], reason=job["error"]["reason"])


def get_query_results(state, req, m):
    job = _find_job(state, m)
    _raise_job_error(job)
    out = _page(job, req.query, req.query.get("maxResults"))
    out["kind"] = "bigquery#getQueryResultsResponse"
    return 200, out


def query(state, req, m):
    """jobs.query (what query_and_wait sends): run and answer in one round trip."""
    body = req.body or {}
    ref = {"location": body.get("location")}
    config = {k: body[k] for k in ("query", "queryParameters", "useLegacySql") if k in body}
    job = _new_job(state, m["project"], ref, config)
    _raise_job_error(job)
    out = _page(job, {}, body.get("maxResults"))
    out.update(kind="bigquery#queryResponse", queryId=job["id"])
    return 200, out


ROUTES = [
    ("POST", PROJECT + r"/jobs", insert_job),
    ("GET", PROJECT + r"/jobs/(?P<job>[^/]+)", get_job),
    ("GET", PROJECT + r"/queries/(?P<job>[^/]+)", get_query_results),
    ("POST", PROJECT + r"/queries", query),
]
