"""The Costs page: thin views over `costs.pages` (database only, never Google)."""

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpResponseBadRequest, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_POST

from costs import focus, pages, progress, running, targets, uploads
from costs.bq_rows import PACIFIC
from costs.importer import FORMATS
from costs.models import BillingImport, ImportStatus
from costs.report import UNALLOCATED, is_month, not_a_month
from platform_admin.models import Environment, PlatformSettings, Role
from platform_admin.roles import has_role

HISTORY_PAGE = 50  # imports a page of the history shows


def index(request):
    """The month (invoice month; the current one by default), or one environment of it
    with the drill-down: ?month=YYYY-MM&env=SLUG&path=component&path=service."""
    from django.utils import timezone

    today = timezone.now().astimezone(PACIFIC).date()
    month = request.GET.get("month") or f"{today:%Y-%m}"
    if not is_month(month):
        messages.error(request, f"{not_a_month(month)}: showing this month.")
        month = f"{today:%Y-%m}"
    env = request.GET.get("env", "")
    path = [p for p in request.GET.getlist("path") if p][:3]
    running.settle()  # an import whose process died shows as stopped, not running
    environments = pages.environments_versioned()
    focus = next((e.name for e in environments if e.slug == env), "Unallocated" if env else "")
    if env and env != UNALLOCATED and focus == "Unallocated":
        raise Http404(f"no environment {env}")
    version = pages.data_version(environments)
    context = {
        "content": pages.costs_html(month, today, env, path, version),
        "month": month,
        "focus_slug": env,
        "focus_name": focus,
        "focus_path": path,
        "month_choices": pages.month_choices(today, month),
        "can_import": has_role(request.user, Role.FINANCE),  # on every environment
        "formats": FORMATS,
        "currency": PlatformSettings.load().currency,
        "target_envs": [e for e in environments if has_role(request.user, Role.FINANCE, e)],
    }
    return render(request, "costs/index.html", context)


def estimate(request, slug: str):
    """How an environment's estimate was computed: every component, one line per SKU,
    and the plan beside it."""
    env = get_object_or_404(Environment, slug=slug)
    return render(request, "costs/estimate.html", pages.estimate_page(env))


@require_POST
def upload(request):
    """An export file from the Costs page's form: imported now, or queued with progress."""
    try:
        record = uploads.accept(
            request.user,
            request.FILES.get("file"),
            request.POST.get("format", "auto"),
            replace_months=request.POST.get("replace_months") == "on",
        )
    except uploads.UploadError as exc:
        messages.error(request, str(exc))
        return redirect("costs:index")
    return redirect("costs:import", pk=record.pk)


def import_history(request):
    """Every import and pull, newest first, a page at a time (?page=N)."""
    running.settle()
    imports = BillingImport.objects.select_related("created_by")
    page = Paginator(imports, HISTORY_PAGE).get_page(request.GET.get("page"))
    return render(request, "costs/imports.html", {"page": page})


def import_detail(request, pk: int):
    return render(request, "costs/import.html", _import_context(pk))


def import_part(request, pk: int):
    """The live part of the import page, polled by static/js/live.js."""
    return render(request, "costs/_import_part.html", _import_context(pk))


def _import_context(pk: int) -> dict:
    running.settle()
    record = get_object_or_404(BillingImport, pk=pk)
    busy = record.status in (ImportStatus.QUEUED, ImportStatus.RUNNING)
    seen = progress.read(record.pk) if busy else {}
    size = record.size_bytes or 0
    return {
        "record": record,
        "running": busy,
        "rows_so_far": seen.get("rows", 0),
        "waiting": bool(seen.get("waiting")),
        "counting": bool(seen.get("counting")),
        "percent": round(100 * seen.get("bytes", 0) / size) if size and seen else 0,
    }


@require_POST
def set_target(request):
    """The targets form of the Costs page: an environment's (or a component's) target."""
    env = get_object_or_404(Environment, slug=request.POST.get("environment", ""))
    component = request.POST.get("component", "")
    try:
        amount = targets.parse_amount(request.POST.get("amount", ""))
        changed = targets.set_target(request.user, env, component, amount)
    except targets.TargetError as exc:
        messages.error(request, f"Target not changed: {exc}.")
    else:
        what = f"{env.name} {component}".strip()
        if not changed and component:
            messages.info(request, f"{what} has no target: nothing to remove.")
        elif not changed:
            messages.info(request, f"The target of {what} is the platform file's already.")
        elif amount is not None:
            messages.success(request, f"Target of {what} set to {amount:,.2f}.")
        elif component:  # the platform file sets no component targets
            messages.success(request, f"Target of {what} removed.")
        else:
            messages.success(request, f"Target of {what} set to the platform file's.")
    return redirect(_back_to(request.POST))


def _back_to(form) -> str:
    """The Costs page the form was sent from: its month, environment and drill-down."""
    month = form.get("month", "")
    query = {"month": month} if is_month(month) else {}
    if env := form.get("env", ""):
        query |= {"env": env, "path": [p for p in form.getlist("path") if p][:3]}
    return reverse("costs:index") + (f"?{urlencode(query, doseq=True)}" if query else "")


def export_csv(request):
    """The month's FOCUS-style CSV (?month=YYYY-MM), streamed."""
    month = request.GET.get("month", "")
    if not is_month(month):
        return HttpResponseBadRequest(
            f"{not_a_month(month)}: the export is of ?month=YYYY-MM.",
            content_type="text/plain; charset=utf-8",
        )
    response = StreamingHttpResponse(focus.lines(month), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="costs-{month}-focus.csv"'
    return response
