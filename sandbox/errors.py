"""Errors in Google's JSON shape, and the HTTP/gRPC status vocabulary."""

import grpc

# HTTP status -> (Google status name, gRPC code)
HTTP_TO_STATUS = {
    400: ("INVALID_ARGUMENT", grpc.StatusCode.INVALID_ARGUMENT),
    401: ("UNAUTHENTICATED", grpc.StatusCode.UNAUTHENTICATED),
    403: ("PERMISSION_DENIED", grpc.StatusCode.PERMISSION_DENIED),
    404: ("NOT_FOUND", grpc.StatusCode.NOT_FOUND),
    409: ("ALREADY_EXISTS", grpc.StatusCode.ALREADY_EXISTS),
    412: ("FAILED_PRECONDITION", grpc.StatusCode.FAILED_PRECONDITION),
    429: ("RESOURCE_EXHAUSTED", grpc.StatusCode.RESOURCE_EXHAUSTED),
    500: ("INTERNAL", grpc.StatusCode.INTERNAL),
    501: ("UNIMPLEMENTED", grpc.StatusCode.UNIMPLEMENTED),
    503: ("UNAVAILABLE", grpc.StatusCode.UNAVAILABLE),
    504: ("DEADLINE_EXCEEDED", grpc.StatusCode.DEADLINE_EXCEEDED),
}


class ApiError(Exception):
    """An error the API answers with (not a sandbox bug)."""

    def __init__(self, code: int, message: str, status: str = "", reason: str = ""):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status or HTTP_TO_STATUS.get(code, ("UNKNOWN", None))[0]
        self.reason = reason

    def body(self) -> dict:
        error = {"code": self.code, "message": self.message, "status": self.status}
        if self.reason:
            # Compute and BigQuery also carry the legacy `errors[]` list with a reason.
            error["errors"] = [{"message": self.message, "domain": "global", "reason": self.reason}]
        return {"error": error}

    def grpc_code(self) -> grpc.StatusCode:
        return HTTP_TO_STATUS.get(self.code, ("", grpc.StatusCode.UNKNOWN))[1]


def not_found(what: str) -> ApiError:
    return ApiError(404, f"{what} not found.", reason="notFound")


def invalid(message: str) -> ApiError:
    return ApiError(400, message, reason="invalid")
