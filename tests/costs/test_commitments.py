"""Committed-use utilisation and coverage per environment and month, from the rollups of
the sandbox's bill (production holds a 1-year resource commitment on its VM and a spend
commitment on half of its Cloud Run), checked against the catalog's list prices; and a
half-used commitment written by hand, whose page says what a smaller one would have saved."""

# ruff: noqa: F811 - fixtures imported from another conftest are parameters of their name
import json
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command

from costs import prices
from costs.commitments import month_lines
from deployments.tokens import create_token
from tests.costs.conftest import export_row
from tests.costs.test_commands import sandbox_export  # noqa: F401
from tests.deployments.conftest import api_caller
from tests.platform_admin.conftest import gcp_sandbox  # noqa: F401

pytestmark = pytest.mark.django_db
D = Decimal
H = 24 * 31  # the hours of October
N2_CORE, N2_RAM = D("0.031611"), D("0.004237")  # on demand, per vCPU hour and GiB hour
N2_CORE_1Y, N2_RAM_1Y = D("0.019915"), D("0.002669")  # the 1-year commitment's


@pytest.fixture
def snapshot(platform, gcp_sandbox):
    prices.refresh(actor="test")
    return prices.latest()


def _imported(path) -> None:
    call_command("import_billing", str(path), stdout=StringIO())


def _lines(snapshot, month="2026-10"):
    return {(x.environment.slug, x.what): x for x in month_lines(month, snapshot, "USD")}


def _n2_core_usage(hours: int, covered: int = 0, sud_rate: Decimal = D(0)) -> dict:
    """Production's N2 vCPU hours at on-demand price, `covered` of them by a commitment,
    the rest at a sustained-use discount of `sud_rate`."""
    credits = [("COMMITTED_USAGE_DISCOUNT", str(-covered * N2_CORE))] if covered else []
    if sud_rate:
        credits.append(("SUSTAINED_USAGE_DISCOUNT", str(-(hours - covered) * N2_CORE * sud_rate)))
    return export_row(
        str(hours * N2_CORE),
        project="acme-prod",
        service="Compute Engine",
        sku="N2 Instance Core running in Americas",
        credits=credits,
    )


# 100 committed vCPU hours, and 80 used of which 50 were covered (a quiet week).
HALF_USED = [
    export_row(
        str(100 * N2_CORE_1Y),
        project="acme-prod",
        service="Compute Engine",
        sku="Commitment v1: N2 Cpu in Americas for 1 Year",
    ),
    _n2_core_usage(hours=80, covered=50),
]


def _file_sums(path, project: str, credit_type: str, service: str) -> tuple[Decimal, Decimal]:
    """(credits of `credit_type`, gross after free tier of the SKUs that earned them) of the
    project's rows of `service` in the file, added here with Decimal."""
    rows = [json.loads(line, parse_float=Decimal) for line in path.read_text().splitlines()]
    mine = [r for r in rows if (r.get("project") or {}).get("id") == project]
    mine = [r for r in mine if (r.get("service") or {}).get("description") == service]
    earned = {r["sku"]["id"] for r in mine if any(c["type"] == credit_type for c in r["credits"])}
    credits = gross = D(0)
    for r in mine:
        if r["sku"]["id"] not in earned:
            continue
        gross += r["cost"] + sum(
            (c["amount"] for c in r["credits"] if c["type"] == "FREE_TIER"), D(0)
        )
        credits -= sum((c["amount"] for c in r["credits"] if c["type"] == credit_type), D(0))
    return credits, gross


def test_production_vm_commitment_is_fully_used_and_covers_the_vm(snapshot, sandbox_export):
    _imported(sandbox_export)

    vm = _lines(snapshot)[("production", "N2 vCPU and memory")]

    # n2-standard-4 (4 vCPU, 16 GiB) committed whole for a year: the fee at the commitment
    # price every hour of the month, worth the same hours at on-demand prices.
    assert vm.held_as == "resource-based, 1 year"
    assert vm.fee == H * (4 * N2_CORE_1Y + 16 * N2_RAM_1Y)
    assert vm.value == H * (4 * N2_CORE + 16 * N2_RAM)
    assert vm.credits == vm.eligible == H * (4 * N2_CORE + 16 * N2_RAM)
    assert vm.utilisation == 1.0 and vm.coverage == 1.0
    assert vm.sud == 0  # covered usage gets no sustained-use discount on top
    assert vm.advice == [
        "Fully used and covering all the eligible usage: neither a bigger nor a smaller "
        "commitment would have saved anything."
    ]


def test_production_spend_commitment_covers_about_half_and_says_what_more_would_save(
    snapshot, sandbox_export
):
    _imported(sandbox_export)

    run = _lines(snapshot)[("production", "Cloud Run spend")]

    credits, eligible = _file_sums(
        sandbox_export, "acme-prod", "COMMITTED_USAGE_DISCOUNT_DOLLAR_BASE", "Cloud Run"
    )
    assert run.held_as == "spend-based, 1 year"
    assert (run.credits, run.eligible) == (credits, eligible)
    assert run.value == run.fee / (1 - D("0.17"))  # Google's 17% off Cloud Run spend
    assert run.utilisation == pytest.approx(1.0, abs=1e-6)  # every day busier than committed
    assert 0.4 < run.coverage < 0.6  # share = 0.5 of the usual usage, ±12% a day
    assert run.extra_saving == (eligible - credits) * D("0.17")
    assert any(
        s.startswith(f"Extra: committing to the uncovered ${eligible - credits:,.2f} of usage")
        and f"would have saved ${(eligible - credits) * D('0.17'):,.2f} (17.0% off)" in s
        for s in run.advice
    ), run.advice
    assert not any(s.startswith("Smaller") for s in run.advice)


def test_an_environment_without_commitments_is_told_what_one_would_have_saved(
    snapshot, sandbox_export
):
    _imported(sandbox_export)

    vm = _lines(snapshot)[("staging", "N2 vCPU and memory")]

    assert vm.held_as == "none held" and vm.fee == 0 and vm.utilisation is None
    assert vm.eligible == H * (4 * N2_CORE + 16 * N2_RAM)
    assert vm.coverage == 0.0
    discount = min(1 - N2_CORE_1Y / N2_CORE, 1 - N2_RAM_1Y / N2_RAM)
    saving = vm.eligible * discount - vm.sud
    assert vm.sud > 0 and saving > 0
    assert vm.advice == [
        f"No commitment: a 1-year commitment on this usage would have saved ${saving:,.2f} "
        f"this month ({discount * 100:.1f}% off ${vm.eligible:,.2f}, less the "
        f"${vm.sud:,.2f} sustained-use discount it had)."
    ]


def test_a_half_used_commitment_says_what_a_smaller_one_would_have_saved(
    client, carol, snapshot, write_export
):
    _imported(write_export(HALF_USED))

    vm = _lines(snapshot)[("production", "N2 vCPU and memory")]

    assert vm.utilisation == 0.5 and vm.coverage == 50 / 80
    # The unused 50 committed hours were paid at the commitment price.
    assert vm.smaller_saving == 50 * N2_CORE_1Y
    extra = 30 * N2_CORE * (1 - N2_CORE_1Y / N2_CORE)
    assert vm.extra_saving == extra
    client.force_login(carol)
    page = client.get("/costs/?month=2026-10").content.decode()
    section = page.split("Committed-use discounts of 2026-10")[1].split("</section>")[0]
    assert 'data-scope="production" data-commitment="resource"' in section
    assert '<td class="utilisation">50.0%</td>' in section
    assert '<td class="coverage">62.5%</td>' in section
    assert (
        f"Smaller: a commitment sized to the usage it covered (50.0% of it) would have saved "
        f"${50 * N2_CORE_1Y:,.2f}, the fee of the unused part." in section
    )
    assert f"Extra: committing to the uncovered ${30 * N2_CORE:,.2f} of usage as well" in section


def test_without_a_price_snapshot_the_fee_and_credits_show_and_say_what_is_missing(
    platform, write_export
):
    rows = [
        export_row(
            "1.99",
            project="acme-prod",
            service="Compute Engine",
            sku="Commitment v1: N2 Cpu in Americas for 1 Year",
        ),
    ]
    _imported(write_export(rows))

    (vm,) = month_lines("2026-10", None, "USD")

    assert vm.fee == D("1.99") and vm.value is None and vm.utilisation is None
    assert vm.advice[0] == (
        "The price snapshot has no on-demand or commitment price of N2 vCPU and memory: "
        "utilisation and savings need one (python manage.py refresh_prices)."
    )


def test_credits_from_a_commitment_billed_elsewhere_say_where_the_fee_is(snapshot, write_export):
    _imported(write_export([_n2_core_usage(hours=10, covered=10)]))

    vm = _lines(snapshot)[("production", "N2 vCPU and memory")]

    assert vm.fee == 0 and vm.utilisation is None and vm.coverage == 1.0
    assert vm.advice == [
        "Credits without a fee: the commitment is billed to another project, so its "
        "utilisation shows there."
    ]


def test_usage_whose_sustained_use_discount_beats_a_commitment_is_told_so(snapshot, write_export):
    # 100 vCPU hours with a 40% sustained-use discount: more than a 1-year commitment's 37%.
    used = 100 * N2_CORE
    _imported(write_export([_n2_core_usage(hours=100, sud_rate=D("0.4"))]))

    vm = _lines(snapshot)[("production", "N2 vCPU and memory")]

    assert vm.extra_saving < 0
    assert vm.advice == [
        f"No commitment, and none would have paid: the sustained-use discount "
        f"(${used * D('0.4'):,.2f}) already beats a 1-year commitment's."
    ]


def test_the_api_gives_the_months_commitments(client, alice, snapshot, write_export):
    _imported(write_export(HALF_USED))
    call = api_caller(client, create_token(alice, "finance-script"))

    body = call("get", "/costs/months/2026-10/commitments").json()

    assert (body["month"], body["currency"]) == ("2026-10", "USD")
    [line] = body["commitments"]
    assert line["environment"] == "production" and line["what"] == "N2 vCPU and memory"
    assert line["held"] == "resource-based, 1 year"
    assert line["fee"] == f"{100 * N2_CORE_1Y:.2f}" and line["credits"] == f"{50 * N2_CORE:.2f}"
    assert (line["utilisation"], line["coverage"]) == (0.5, 0.625)
    assert line["smaller_saving"] == f"{50 * N2_CORE_1Y:.2f}"
    assert line["advice"] == _lines(snapshot)[("production", "N2 vCPU and memory")].advice
    assert call("get", "/costs/months/2026-09/commitments").json()["commitments"] == []
    refused = call("get", "/costs/months/2026-13/commitments")
    assert refused.status_code == 400 and "not a month like 2026-10" in refused.json()["message"]
