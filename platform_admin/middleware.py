"""Request-wide middleware: the audit context (the caller's address) and the refusal of
input no view could store."""

import json
import re

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http import JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.shortcuts import render

from platform_admin.audit import RequestContext, reset_request_context, set_request_context


def client_ip(request) -> str | None:
    """The caller's address: REMOTE_ADDR, or the entry our trusted proxies appended."""
    hops = settings.TRUSTED_PROXY_COUNT
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if hops and forwarded:
        parts = [p.strip() for p in forwarded.split(",") if p.strip()]
        if len(parts) >= hops:
            return parts[-hops]
    return request.META.get("REMOTE_ADDR") or None


class AuditContextMiddleware:
    """Makes the request's IP available to `audit.record()` without threading it through."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = set_request_context(RequestContext(ip=client_ip(request)))
        try:
            return self.get_response(request)
        finally:
            reset_request_context(token)


# A NUL or a lone surrogate reaches no view: PostgreSQL refuses NUL in text and UTF-8 has
# no surrogates, so any lookup or write with one would be a server error.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
_NOT_STORABLE = "contains a NUL character or an unpaired surrogate; remove it and try again."


def _any_unstorable(pairs) -> bool:
    """True if any key or value of (key, value) pairs holds a character we cannot store."""
    return any(_UNSTORABLE.search(f"{key}{value}") for key, value in pairs)


def _json_unstorable(data) -> bool:
    """True if any string (key or value) anywhere in a parsed JSON document holds a
    character we cannot store. Iterative: a deep document must not exhaust the stack."""
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _UNSTORABLE.search(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _form_problem(request) -> str | None:
    """What is wrong with a posted form's fields, or None. (Django cleans the names of
    uploaded files itself.)"""
    try:
        fields = list(request.POST.lists())
    except (TooManyFieldsSent, TooManyFilesSent):
        return "The form has too many fields."
    except MultiPartParserError:
        return "The request body could not be read as a form."
    if _any_unstorable((key, "".join(values)) for key, values in fields):
        return f"A form field {_NOT_STORABLE}"
    return None


def _json_problem(request) -> str | None:
    try:
        data = json.loads(request.body)
    except RecursionError:
        return "The JSON body is nested too deeply."
    except ValueError:
        return None  # not JSON: the view says what it makes of it
    return f"The JSON body {_NOT_STORABLE}" if _json_unstorable(data) else None


def _body_problem(request) -> str | None:
    """What is wrong with the body, or None. A posted form is checked field by field (but
    not on the API, which reads JSON: parsing a multipart stream here would consume it);
    any other body as JSON, which the API parses whatever the content type says."""
    multipart = request.content_type == "multipart/form-data"
    posted_form = request.method == "POST" and request.content_type in _FORM_TYPES
    if posted_form and not (multipart and _is_api(request)):
        problem = _form_problem(request)
        if problem or multipart:
            return problem  # a parsed multipart body cannot be read again
    return _json_problem(request) if request.body else None


def input_problem(request) -> str | None:
    """The sentence that refuses the request's input, or None when every part of it
    (path, query string, cookies, form fields, JSON body) can be stored and looked up."""
    if _UNSTORABLE.search(request.path_info) or _UNSTORABLE.search(request.path):
        return f"The address {_NOT_STORABLE}"
    if _any_unstorable((key, "".join(values)) for key, values in request.GET.lists()):
        return f"The query string {_NOT_STORABLE}"
    if _any_unstorable(request.COOKIES.items()):
        return f"A cookie {_NOT_STORABLE}"
    try:
        return _body_problem(request)
    except RequestDataTooBig:
        megabytes = settings.DATA_UPLOAD_MAX_MEMORY_SIZE / (1024 * 1024)
        return f"The request body is larger than {megabytes:g} MB."


def _is_api(request) -> bool:
    return request.path_info.startswith("/api/")


class RefuseUnstorableInputMiddleware:
    """Answers 400 with a sentence, before any view runs, for input no view could handle:
    a NUL or a lone surrogate anywhere (see `input_problem`), a body over
    DATA_UPLOAD_MAX_MEMORY_SIZE, a form with too many fields. The API gets its JSON
    `{"message": ...}`; a page gets the plain 400 page. Nothing is changed."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        problem = input_problem(request)
        if problem is None:
            return self.get_response(request)
        if _is_api(request):
            return JsonResponse({"message": problem}, status=400)
        return render(request, "400.html", {"message": problem}, status=400)


class MethodNotAllowedPageMiddleware:
    """A page's form address opened in the browser (GET on a view that only takes a
    form's POST) answers 405 with a page saying so, instead of Django's empty body. The
    API answers its own 405s (JSON)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if response.status_code != 405 or response.content or _is_api(request):
            return response
        page = render(
            request,
            "405.html",
            {"method": request.method, "allowed": response.get("Allow", "")},
            status=405,
        )
        page["Allow"] = response.get("Allow", "")
        return page
