"""A month's figures (invoice month) from the daily rollups: the numbers `cost_report`,
the API and the Costs page agree on. Sums are exact; rounding to cents comes last."""

import csv
import io
import re

from django.db.models import Sum

from costs.attribution import NO_SERVICE
from costs.bq_rows import YEAR
from costs.models import CostDaily
from costs.money import cents
from platform_admin.csv_safe import safe_cell
from platform_admin.models import Environment, PlatformSettings

# A month the figures can be about: an invoice month an export can hold (1970-2999, so
# every date of the month and of the months around it exists).
MONTH = re.compile(YEAR + r"-(0[1-9]|1[0-2])")


def is_month(text: str) -> bool:
    """Whether `text` is a month YYYY-MM, exactly (no space or newline around it)."""
    return MONTH.fullmatch(text) is not None


_ANY_YEAR = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")


def not_a_month(text: str) -> str:
    """Why `text` (which is_month refused) is no month, as the pages, API and commands
    say it: cut to 20 characters."""
    if _ANY_YEAR.fullmatch(text):
        return f"{text!r} is outside the years of any export (1970–2999)"
    return f"{text[:20]!r} is not a month like 2026-10"


UNALLOCATED = "unallocated"


def month_report(month: str) -> dict:
    """{"month", "currency", "total", "environments", "services"} of invoice month
    YYYY-MM; a month without data gives zeros. Raises ValueError on a malformed month."""
    if not is_month(month):
        raise ValueError(not_a_month(month))
    rows = CostDaily.objects.filter(invoice_month=month)
    sums = {"c": Sum("cost_nanos"), "k": Sum("credits_nanos"), "n": Sum("net_nanos")}
    by_env = {r["environment"]: r for r in rows.values("environment").annotate(**sums).order_by()}
    environments = {}
    for env in Environment.objects.all():
        environments[env.slug] = _amounts(by_env.get(env.pk))
    environments[UNALLOCATED] = _amounts(by_env.get(None))  # never hidden
    services = {
        (r["service_description"] or NO_SERVICE): cents(r["n"] or 0)
        for r in rows.values("service_description").annotate(n=Sum("net_nanos")).order_by()
    }
    return {
        "month": month,
        "currency": PlatformSettings.load().currency,
        "total": _amounts(rows.aggregate(**sums)),
        "environments": environments,
        "services": dict(sorted(services.items())),
    }


def _amounts(sums: dict | None) -> dict[str, str]:
    sums = sums or {}
    return {
        "cost": cents(sums.get("c") or 0),
        "credits": cents(sums.get("k") or 0),
        "net": cents(sums.get("n") or 0),
    }


def as_csv(report: dict) -> str:
    """One line per figure: scope (total / environment / service), name, cost, credits, net."""
    out = io.StringIO()
    writer = csv.writer(out)  # RFC 4180 line ends: a cell holding a CR alone is quoted too
    writer.writerow(["month", "currency", "scope", "name", "cost", "credits", "net"])
    head = [report["month"], report["currency"]]
    total = report["total"]
    writer.writerow([*head, "total", "", total["cost"], total["credits"], total["net"]])
    for slug, a in report["environments"].items():
        writer.writerow([*head, "environment", slug, a["cost"], a["credits"], a["net"]])
    for name, net in report["services"].items():
        # A service description comes from the export file: neutralise a formula in it
        # (amounts stay plain decimal strings, negative ones included).
        writer.writerow([*head, "service", safe_cell(name), "", "", net])
    return out.getvalue()


def as_table(report: dict) -> str:
    """A plain-text table for a terminal: columns as wide as their longest figure, two
    spaces apart."""
    rows = [("total", report["total"])] + list(report["environments"].items())
    amounts = [a[k] for _, a in rows for k in ("cost", "credits", "net")]
    width = max(len(text) for text in [*amounts, *report["services"].values(), "credits"]) + 2
    name_width = max(len(name) for name, _ in rows) + 2
    lines = [f"Invoice month {report['month']} ({report['currency']})", ""]
    lines.append(f"{'':<{name_width}}{'cost':>{width}}{'credits':>{width}}{'net':>{width}}")
    for name, a in rows:
        lines.append(
            f"{name:<{name_width}}{a['cost']:>{width}}{a['credits']:>{width}}{a['net']:>{width}}"
        )
    services = max([len(name) for name in report["services"]] + [len("GCP service")]) + 2
    lines += ["", f"{'GCP service':<{services}}{'net':>{width}}"]
    lines += [f"{name:<{services}}{net:>{width}}" for name, net in report["services"].items()]
    return "\n".join(lines) + "\n"
