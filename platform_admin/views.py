import csv

from django.contrib.auth.decorators import login_not_required
from django.core.paginator import Paginator
from django.http import HttpResponseBadRequest, JsonResponse, StreamingHttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from platform_admin.audit import canonical_json
from platform_admin.audit_filters import AuditFilterForm
from platform_admin.csv_safe import safe_row
from platform_admin.health import run_checks


@login_not_required
@never_cache
@require_GET
def healthz(request):
    details, ok, serving = run_checks()
    body = {"status": "ok" if ok else "degraded", **details}
    return JsonResponse(body, status=200 if serving else 503)


def audit_list(request):
    form = AuditFilterForm(request.GET)
    events = form.filter()
    page = Paginator(events, 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "platform_admin/audit.html",
        {"form": form, "page": page, "query": query.urlencode()},
    )


class _Echo:
    def write(self, value):
        return value


CSV_COLUMNS = [
    "id",
    "created_at",
    "actor",
    "action",
    "object_type",
    "object_id",
    "object_repr",
    "environment",
    "ip",
    "detail",
    "prev_hash",
    "hash",
]


def audit_csv(request):
    """The filtered audit trail as CSV, streamed; text cells are formula-safe (csv_safe).
    A wrong filter is a 400 saying why, not an empty file that looks like no events."""
    form = AuditFilterForm(request.GET)
    if not form.is_valid():
        return HttpResponseBadRequest(
            " ".join(form.error_sentences()), content_type="text/plain; charset=utf-8"
        )
    events = form.filter()
    writer = csv.writer(_Echo())

    def rows():
        yield writer.writerow(CSV_COLUMNS)
        for event in events.order_by("id").iterator(chunk_size=2000):
            yield writer.writerow(
                safe_row(
                    [
                        event.pk,
                        event.created_at.isoformat(),
                        event.actor,
                        event.action,
                        event.object_type,
                        event.object_id,
                        event.object_repr,
                        event.environment,
                        event.ip or "",
                        canonical_json(event.detail),
                        event.prev_hash,
                        event.hash,
                    ]
                )
            )

    response = StreamingHttpResponse(rows(), content_type="text/csv")
    response["Content-Disposition"] = 'attachment; filename="audit.csv"'
    return response
