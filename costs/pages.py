"""What the Costs page shows, from the database only: the month's figures, the daily
chart with the target pace and the rollouts that went live, the 12-month trend, the
drill-down, the import history and the data's freshness."""

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from django.db.models import Subquery
from django.template.loader import render_to_string

from costs import commitments, prices, services
from costs import month as figures
from costs.bq_rows import PACIFIC
from costs.estimate import estimate_all, estimate_of
from costs.importer import FILE_FORMATS
from costs.models import BillingImport, InvoiceMonth
from costs.plan import gaps, plan_lines
from costs.report import UNALLOCATED
from platform_admin import page_cache
from platform_admin.charts import Mark, line_chart
from platform_admin.models import Environment, PlatformSettings
from platform_admin.timeline import rollout_marks

HISTORY = 20


def _moment(day: date) -> datetime:
    """A usage day's point on the chart's axis, whose days are US/Pacific days (drawn as
    UTC times: the axis has no clock changes): its middle."""
    return datetime.combine(day, time(12), tzinfo=UTC)


def _on_axis(moment: datetime) -> datetime:
    """An instant (a rollout going live) on the same axis: its Pacific wall-clock time."""
    return moment.astimezone(PACIFIC).replace(tzinfo=UTC)


def daily_chart(month: figures.Month, scope: figures.Scope, currency: str):
    """The month's daily net with the target's daily pace as the line, rollouts marked on
    the (US/Pacific) day they went live. Usage of a day before the month that its invoice
    holds (late usage) widens the axis to that day."""
    slug = "" if scope is month.total else scope.slug
    daily = figures.daily(month.month, slug)
    points = [(_moment(day), float(net)) for day, net in daily]
    days = (month.last - month.first).days + 1
    pace = float(scope.target) / days if scope.target else None
    first = min([month.first] + [day for day, _ in daily])
    start = datetime.combine(first, time(0), tzinfo=UTC)
    end = datetime.combine(month.last + timedelta(days=1), time(0), tzinfo=UTC)
    slugs = [slug] if slug else None
    since = datetime.combine(first, time(0), tzinfo=PACIFIC)
    until = datetime.combine(month.last + timedelta(days=1), time(0), tzinfo=PACIFIC)
    marks = [
        Mark(_on_axis(m.time), f"{m.release} live in {m.environment} ({_on_axis(m.time):%b %d})")
        for m in rollout_marks(slugs, since=since, until=until)
        if m.what == "succeeded"
    ]
    return line_chart(
        points,
        start=start,
        end=end,
        title=f"Daily cost, {scope.name}, {month.month}",
        threshold=pace,
        threshold_label="target pace",
        marks=marks,
        y_format=lambda v: f"{v:,.2f} {currency}",
    )


def environments_versioned() -> list[Environment]:
    """Every environment, each carrying the data's version (`data_version`: the newest
    audit event and the newest import's status): one query for the page's list and key."""
    newest = BillingImport.objects.order_by("-id")
    return list(
        Environment.objects.annotate(
            audit_version=page_cache.audit_version(),
            import_id=Subquery(newest.values("id")[:1]),
            import_status=Subquery(newest.values("status")[:1]),
        )
    )


def data_version(environments: list[Environment]) -> str:
    if not environments:  # nothing to annotate: ask directly
        newest = BillingImport.objects.order_by("-id").values_list("id", "status").first()
        return f"{page_cache.current_audit_version()}:{newest}"
    env = environments[0]
    return f"{env.audit_version}:{env.import_id}-{env.import_status}"


def costs_html(month: str, today: date, env_slug: str, path: list[str] | None, version: str) -> str:
    """The month's figures rendered once per change (`version`: an import or a pull
    finishing, a target set — all audited —, an upload queued or started), and per day."""
    versions = (month, env_slug, "|".join(path or []), today.isoformat(), version)
    return page_cache.part(
        "costs-month",
        versions,
        lambda: render_to_string("costs/_month.html", costs_page(month, today, env_slug, path)),
    )


def costs_page(month: str, today: date, env_slug: str = "", path: list[str] | None = None):
    m = figures.month_figures(month, today)
    currency = PlatformSettings.load().currency
    env = Environment.objects.filter(slug=env_slug).first() if env_slug != UNALLOCATED else None
    focus = next((s for s in m.scopes if s.slug == env_slug), None) if env_slug else None
    scope = focus or m.total
    months, trend = figures.trend(month)
    snapshot = prices.latest()
    estimates = estimate_figures(m, snapshot)
    drill = None
    if focus is not None:
        drill = {
            "path": path or [],
            "items": figures.drill(month, env, path or []),
            "levels": ["component", "GCP service", "SKU"],
        }
    return {
        "month": m,
        "currency": currency,
        "focus": focus,
        "drill": drill,
        "chart": daily_chart(m, scope, currency),
        "credits": figures.credits_by_type(figures.scoped(month, env_slug))
        if focus
        else m.credits_by_type,
        "trend_months": months,
        "trend": [
            {"scope": s, "nets": [trend.get(s.slug, {}).get(x) for x in months]} for s in m.scopes
        ],
        "alerts": services.month_alerts(month),
        "imports": list(BillingImport.objects.select_related("created_by")[:HISTORY]),
        "imports_total": BillingImport.objects.count(),
        **_source(month),
        "zero": Decimal(0),
        "commitments": commitments.month_lines(month, snapshot, currency),
        **estimates,
    }


def _source(month: str) -> dict:
    """Where the month's figures come from: "pull" or "file", and the files' kind."""
    held = InvoiceMonth.objects.filter(month=month).values_list("source", "file_format").first()
    source, file_format = held or ("", "")
    return {
        "source": source,
        "source_files": FILE_FORMATS.get(file_format, ("", "export files"))[1],
    }


def estimate_figures(m: figures.Month, snapshot: prices.Snapshot | None) -> dict:
    """Each environment's estimate range (on its row of the month and its components'),
    the plan beside it and the gaps; the snapshot they came from and whether it is stale."""
    if snapshot is None:
        return {"snapshot": None, "gaps": [], "plans": []}
    by_slug = {e.environment.slug: e for e in estimate_all(snapshot)}
    all_gaps, plans = [], []
    for scope in m.scopes:
        est = by_slug.get(scope.slug)
        if est is None:
            continue
        scope.estimate = (est.low, est.high)
        ranges = {c.name: (c.low, c.high) for c in est.components}
        for component in scope.components:
            component["estimate"] = ranges.pop(component["name"], None)
        for name, estimate in ranges.items():  # estimated, not billed (yet) this month
            scope.components.append(
                {"name": name, "net": None, "share": None, "target": None, "estimate": estimate}
            )
        net = scope.net if m.closed else scope.forecast
        all_gaps += gaps(est, net if m.newest_day else None, m.closed)
        if est.environment.cost_plan:
            total = est.environment.cost_plan["total"]
            plans.append(
                {
                    "scope": scope,
                    "total": (Decimal(total[0]), Decimal(total[1])),
                    "lines": plan_lines(est),
                }
            )
            scope.plan = plans[-1]["total"]
    return {"snapshot": snapshot, "gaps": all_gaps, "plans": plans}


def month_choices(today: date, shown: str) -> list[str]:
    """The month picker: this month and the 23 before it, newest first, and the month
    shown when it is another (picked by its address), so that it stays picked."""
    return sorted({*figures.previous_months(f"{today:%Y-%m}", 24), shown}, reverse=True)


def estimate_page(env: Environment) -> dict:
    snapshot = prices.latest()
    est = None
    if snapshot is not None:
        est = estimate_of(env, snapshot)
    return {
        "environment": env,
        "snapshot": snapshot,
        "estimate": est,
        "plan_lines": plan_lines(est) if est else [],
        "gaps": gaps(est, None, closed=False) if est else [],
        "currency": PlatformSettings.load().currency,
    }
