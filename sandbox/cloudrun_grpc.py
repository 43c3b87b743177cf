"""Cloud Run Admin API v2 over gRPC, the client libraries' default transport.

Each call is served by the REST route it corresponds to (`server.dispatch`, with the
method and path the REST transport would use), so the model, injected faults (matched on
that method and path) and the request log are the REST side's; a log entry says
`"transport": "grpc"`. JSON answers become protobuf messages with `json_format`.
"""

import grpc
from google.cloud import run_v2
from google.longrunning import operations_pb2
from google.protobuf import json_format

from .errors import ApiError
from .server import Request, serve


def _raw(message_class):
    """The protobuf class under a proto-plus message class."""
    return type(message_class.pb(message_class()))


SERVICE = _raw(run_v2.Service)
REVISION = _raw(run_v2.Revision)
LIST_REVISIONS = _raw(run_v2.ListRevisionsResponse)
JOB = _raw(run_v2.Job)
EXECUTION = _raw(run_v2.Execution)
LIST_EXECUTIONS = _raw(run_v2.ListExecutionsResponse)
PACKED = {
    "type.googleapis.com/google.cloud.run.v2.Service": SERVICE,
    "type.googleapis.com/google.cloud.run.v2.Job": JOB,
    "type.googleapis.com/google.cloud.run.v2.Execution": EXECUTION,
}


def _rest(state, context, method: str, path: str, query=None, body=None) -> dict:
    status, payload = serve(state, Request(method, path, query or {}, body), body, "grpc")
    if status >= 400:
        message = payload.get("error", {}).get("message", f"HTTP {status}")
        context.abort(ApiError(status, message).grpc_code(), message)
    return payload


def _message(payload: dict, raw_class):
    return json_format.ParseDict(payload, raw_class(), ignore_unknown_fields=True)


def _operation(payload: dict) -> operations_pb2.Operation:
    """A Cloud Run operation: its metadata and response are the same resource (a
    Service, a Job, an Execution), which is parsed once (a generic ParseDict would parse
    it for each)."""
    op = operations_pb2.Operation(name=payload["name"], done=payload.get("done", False))
    resource = None
    for field in ("metadata", "response"):
        if field in payload:
            if resource is None:
                kind = PACKED.get(payload[field].get("@type", ""), SERVICE)
                body = {k: v for k, v in payload[field].items() if k != "@type"}
                resource = _message(body, kind)
            getattr(op, field).Pack(resource)
    if "error" in payload:
        json_format.ParseDict(payload["error"], op.error, ignore_unknown_fields=True)
    return op


def _handlers(state) -> list:
    def get_service(request, context):
        return _message(_rest(state, context, "GET", f"/v2/{request.name}"), SERVICE)

    def update_service(request, context):
        query = {"updateMask": ",".join(request.update_mask.paths)}
        if request.validate_only:
            query["validateOnly"] = "true"
        body = json_format.MessageToDict(request.service)
        payload = _rest(state, context, "PATCH", f"/v2/{request.service.name}", query, body)
        return _operation(payload)

    def get_revision(request, context):
        return _message(_rest(state, context, "GET", f"/v2/{request.name}"), REVISION)

    def list_revisions(request, context):
        query = {"pageSize": str(request.page_size or ""), "pageToken": request.page_token}
        query = {k: v for k, v in query.items() if v}
        payload = _rest(state, context, "GET", f"/v2/{request.parent}/revisions", query)
        return _message(payload, LIST_REVISIONS)

    def get_job(request, context):
        return _message(_rest(state, context, "GET", f"/v2/{request.name}"), JOB)

    def update_job(request, context):
        body = json_format.MessageToDict(request.job)
        return _operation(_rest(state, context, "PATCH", f"/v2/{request.job.name}", {}, body))

    def run_job(request, context):
        body = json_format.MessageToDict(request)
        body.pop("name", None)
        return _operation(_rest(state, context, "POST", f"/v2/{request.name}:run", {}, body))

    def get_execution(request, context):
        return _message(_rest(state, context, "GET", f"/v2/{request.name}"), EXECUTION)

    def cancel_execution(request, context):
        return _operation(_rest(state, context, "POST", f"/v2/{request.name}:cancel", {}, {}))

    def list_executions(request, context):
        payload = _rest(state, context, "GET", f"/v2/{request.parent}/executions")
        return _message(payload, LIST_EXECUTIONS)

    def get_operation(request, context):
        return _operation(_rest(state, context, "GET", f"/v2/{request.name}"))

    def unary(fn, raw_request_class):
        return grpc.unary_unary_rpc_method_handler(
            fn,
            request_deserializer=raw_request_class.FromString,
            response_serializer=lambda message: message.SerializeToString(),
        )

    return [
        grpc.method_handlers_generic_handler(
            "google.cloud.run.v2.Services",
            {
                "GetService": unary(get_service, _raw(run_v2.GetServiceRequest)),
                "UpdateService": unary(update_service, _raw(run_v2.UpdateServiceRequest)),
            },
        ),
        grpc.method_handlers_generic_handler(
            "google.cloud.run.v2.Revisions",
            {
                "GetRevision": unary(get_revision, _raw(run_v2.GetRevisionRequest)),
                "ListRevisions": unary(list_revisions, _raw(run_v2.ListRevisionsRequest)),
            },
        ),
        grpc.method_handlers_generic_handler(
            "google.cloud.run.v2.Jobs",
            {
                "GetJob": unary(get_job, _raw(run_v2.GetJobRequest)),
                "UpdateJob": unary(update_job, _raw(run_v2.UpdateJobRequest)),
                "RunJob": unary(run_job, _raw(run_v2.RunJobRequest)),
            },
        ),
        grpc.method_handlers_generic_handler(
            "google.cloud.run.v2.Executions",
            {
                "GetExecution": unary(get_execution, _raw(run_v2.GetExecutionRequest)),
                "ListExecutions": unary(list_executions, _raw(run_v2.ListExecutionsRequest)),
                "CancelExecution": unary(cancel_execution, _raw(run_v2.CancelExecutionRequest)),
            },
        ),
        grpc.method_handlers_generic_handler(
            "google.longrunning.Operations",
            {
                "GetOperation": unary(get_operation, operations_pb2.GetOperationRequest),
            },
        ),
    ]


def add_to(server: grpc.Server, state) -> None:
    server.add_generic_rpc_handlers(tuple(_handlers(state)))
