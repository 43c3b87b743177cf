"""Importing export files: exact in any order, idempotent, atomic, attributed."""

import itertools
import json
from decimal import Decimal

import pytest

from costs.importer import import_file
from costs.models import BillingImport, BillingRow, CostDaily
from costs.report import month_report
from platform_admin.models import AuditEvent
from tests.costs.conftest import export_row, ndjson

pytestmark = pytest.mark.django_db


def canonical_month_totals(rows) -> dict[str, Decimal]:
    """Google's canonical query, computed independently:
    SUM(cost) + SUM(IFNULL((SELECT SUM(c.amount) FROM UNNEST(credits) c), 0)) by invoice.month."""
    totals: dict[str, Decimal] = {}
    for row in rows:
        month = f"{row['invoice']['month'][:4]}-{row['invoice']['month'][4:]}"
        credits = [Decimal(c["amount"]) for c in row["credits"] or []]
        net = Decimal(row["cost"]) + sum(credits, Decimal(0))
        totals[month] = totals.get(month, Decimal(0)) + net
    return totals


def net(month="2026-10") -> str:
    return month_report(month)["total"]["net"]


@pytest.mark.usefixtures("both_parsers")
def test_overlapping_exports_in_every_order_count_each_row_once(platform, write_export):
    a, b, c, d = (export_row(f"{n}.000001") for n in (1, 2, 3, 4))
    files = [[a, b], [b, c], [a, b, c, d]]  # overlapping re-exports of the same period
    results = set()
    for order in itertools.permutations(range(3)):
        CostDaily.objects.all().delete()  # start each order from an empty ledger
        BillingRow.objects.all().delete()
        for i in order:
            import_file(write_export(files[i], name=f"part{i}.jsonl"))
        results.add(net())
    assert results == {"10.00"}
    assert CostDaily.objects.get().row_count == 4


def test_rows_added_to_existing_buckets_leave_them_as_one_import_of_all_would(
    platform, write_export
):
    """The second file adds to the 1 200 buckets the first created (more than one chunk
    of them): counts, cost, credits by type (one type new to them), usage."""

    def row(i, credit):
        return export_row(
            f"{i}.{i:06d}",
            sku=f"S{i % 1200}",
            labels={"app": "agent"},
            credits=[(credit, f"-0.{i % 9}1")],
            usage={"amount": Decimal(f"{i}.5"), "unit": "seconds"},
        )

    first = [row(i, "FREE_TIER") for i in range(1200)]
    second = [row(i, "PROMOTION") for i in range(1200, 3000)]
    import_file(write_export(first, name="first.jsonl"))
    import_file(write_export(second, name="second.jsonl"))
    fields = ("key_hash", "row_count", "cost_nanos", "credits_nanos", "net_nanos")
    both = list(CostDaily.objects.order_by("key_hash").values_list(*fields, "credits_by_type"))
    usage = sorted(CostDaily.objects.values_list("key_hash", "usage_amount"))

    CostDaily.objects.all().delete()
    BillingRow.objects.all().delete()
    import_file(write_export(first + second, name="all.jsonl"))

    assert both == list(
        CostDaily.objects.order_by("key_hash").values_list(*fields, "credits_by_type")
    )
    assert usage == sorted(CostDaily.objects.values_list("key_hash", "usage_amount"))
    assert len(both) == 1200 and {len(b[-1]) for b in both} == {2}


@pytest.mark.usefixtures("both_parsers")
def test_identical_rows_within_one_file_all_count(platform, write_export):
    row = export_row("2.50")
    record = import_file(write_export([row, row, row]))
    assert (record.rows_new, record.rows_known) == (3, 0)
    assert net() == "7.50"
    # A later export holding the row only twice adds nothing; one holding it 4 times adds one.
    assert import_file(write_export([row, row], name="two.jsonl")).rows_new == 0
    assert import_file(write_export([row] * 4, name="four.jsonl")).rows_new == 1
    assert net() == "10.00"


@pytest.mark.usefixtures("both_parsers")
def test_same_rows_reordered_rekeyed_respaced_gzipped_add_nothing(platform, write_export):
    rows = [export_row(f"0.{n:06d}", sku=f"SKU {n % 3}") for n in range(1, 40)]
    first = import_file(write_export(rows))
    assert first.rows_new == 39
    again = [
        write_export(rows, name="same.jsonl"),
        write_export(list(reversed(rows)), name="reversed.jsonl", sort_keys=True),
        write_export(rows, name="spaced.json", indent_spaces=True),
        write_export(rows, name="export.jsonl.gz", gz=True),
    ]
    for path in again:
        record = import_file(path)
        assert (record.status, record.rows_new, record.rows_known) == ("succeeded", 0, 39), path
    # The same numbers written differently (1.5 vs 1.500000) and nulls left out are the same row.
    rewritten = ndjson(rows).replace(b'"cost_type":"regular"', b'"cost_type":"regular","x":null')
    assert import_file(write_export(rewritten, name="nulls.jsonl")).rows_new == 0
    # An integer written as a decimal (3600, 3600.000, 3.6E3) is the same number.
    assert b'"amount":3600,' in rewritten
    as_decimals = rewritten.replace(b'"amount":3600,', b'"amount":3600.000,')
    assert import_file(write_export(as_decimals, name="decimals.jsonl")).rows_new == 0
    as_exponents = rewritten.replace(b'"amount":3600,', b'"amount":3.6E3,')
    assert import_file(write_export(as_exponents, name="exponents.jsonl")).rows_new == 0
    total = sum(Decimal(r["cost"]) for r in rows)
    assert net() == str(total.quantize(Decimal("0.01")))


@pytest.mark.usefixtures("both_parsers")
def test_corrections_tax_account_level_unknown_credits_and_next_month_usage(platform, write_export):
    rows = [
        export_row("10.000000", credits=[("SUSTAINED_USAGE_DISCOUNT", "-1.333333")]),
        # A correction: the original negated, then re-billed at 90%.
        export_row("-10.000000", cost_type="adjustment", adjustment_info={"id": "adj-1"}),
        export_row("9.000000", cost_type="adjustment", adjustment_info={"id": "adj-1"}),
        # Tax with no project, service or SKU; an account-level charge without project.
        export_row("0.176667", project=None, service=None, sku=None, cost_type="tax"),
        export_row("5.000000", project=None, service="Support", sku="Support fee"),
        # A credit type nobody has seen yet.
        export_row("2.000000", credits=[("SHINY_NEW_CREDIT", "-0.500000")]),
        # Usage on the last day of October, invoiced in November.
        export_row("4.000000", start="2026-11-01 06:00:00 UTC", month="202611"),
        # NULL fields everywhere nullable.
        export_row(
            "0.010000", location=None, usage=None, labels=None, currency_conversion_rate=None
        ),
    ]
    rows[-1]["credits"] = None
    record = import_file(write_export(rows))
    assert record.status == "succeeded", record.message
    expected = canonical_month_totals(rows)
    report = month_report("2026-10")
    assert report["total"]["net"] == str(expected["2026-10"].quantize(Decimal("0.01")))
    assert month_report("2026-11")["total"]["net"] == "4.00"
    assert report["services"]["(none)"] == "0.18"
    assert report["environments"]["unallocated"]["net"] == "5.18"
    credits = {}
    for day in CostDaily.objects.all():
        for kind, amount in day.credits_by_type.items():
            credits[kind] = credits.get(kind, Decimal(0)) + Decimal(amount)
    assert credits == {
        "SUSTAINED_USAGE_DISCOUNT": Decimal("-1.333333"),
        "SHINY_NEW_CREDIT": Decimal("-0.5"),
    }
    # The October usage day is in US/Pacific: 06:00 UTC on Nov 1 is still Oct 31.
    assert CostDaily.objects.get(invoice_month="2026-11").usage_day.isoformat() == "2026-10-31"


@pytest.mark.usefixtures("both_parsers")
def test_bad_value_refuses_whole_file_naming_line_and_field(platform, write_export):
    import_file(write_export([export_row("1.00")], name="first.jsonl"))
    before = (CostDaily.objects.count(), net())
    rows = [export_row(f"{n}.00", sku=f"S{n}") for n in range(1, 10)]
    rows[6]["cost"] = "twelve dollars"
    record = import_file(write_export(rows))
    assert record.status == "refused"
    assert record.message == (
        'export.jsonl:7: cost: "twelve dollars" is not a number — refused, nothing imported'
    )
    assert (CostDaily.objects.count(), net()) == before
    assert AuditEvent.objects.filter(action="billing.refused").count() == 1


@pytest.mark.usefixtures("both_parsers")
def test_bad_credit_amount_names_the_nested_field(platform, write_export):
    row = export_row("1.00", credits=[("FREE_TIER", "-0.1")])
    row["credits"][0]["amount"] = None
    record = import_file(write_export([export_row("2.00"), row]))
    assert record.message == (
        "export.jsonl:2: credits[0].amount: null is not a number — refused, nothing imported"
    )


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("usage_start_time", ["2026-10-01"], '["2026-10-01"] is not a timestamp'),
        ("usage_start_time", {"at": 1}, '{"at": 1} is not a timestamp'),
        ("invoice", {"month": ["202610"]}, '["202610"] is not a month like "202610" (a string)'),
        ("invoice", {"month": 202610}, '202610 is not a month like "202610" (a string)'),
        ("invoice", {"month": "2026-10"}, '"2026-10" is not a month like 202610'),
        (
            "usage_start_time",
            "0001-01-01 00:00:00 UTC",
            '"0001-01-01 00:00:00 UTC" is out of the range of days',
        ),
    ],
)
@pytest.mark.usefixtures("both_parsers")
def test_a_timestamp_or_month_of_the_wrong_kind_is_refused_naming_it(
    platform, write_export, field, value, message
):
    rows = [export_row("1.00"), export_row("2.00", sku="other")]
    rows[1][field] = value
    record = import_file(write_export(rows))
    assert record.status == "refused"
    name = "invoice.month" if field == "invoice" else field
    assert record.message == f"export.jsonl:2: {name}: {message} — refused, nothing imported"
    assert CostDaily.objects.count() == 0


@pytest.mark.parametrize(
    ("field", "text", "message"),
    [
        ("currency", b"12.50", "currency: 12.50 is not a currency code"),
        ("invoice", b"202610.0", "invoice: 202610.0 is not a record"),
        ("labels", b'[{"key": "app", "value": 1.50}]', "labels[0].value: 1.50 is not a string"),
        ("credits", b"[-0.10]", "credits[0]: -0.10 is not a credit record"),
    ],
)
def test_a_number_in_the_sentence_is_shown_as_the_file_wrote_it(
    platform, write_export, field, text, message
):
    """Not as a string ("12.50"), which would tell the user to remove quotes they never
    wrote."""
    line = ndjson([{**export_row("1.00"), field: "@@"}]).replace(b'"@@"', text)
    record = import_file(write_export(line))
    assert record.message == f"export.jsonl:1: {message} — refused, nothing imported"


BIGGEST = "9,223,372,036.854775807"  # 2**63 - 1 nano-units


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"cost": Decimal("10000000000.00")},
            f"cost: 10000000000.00 is more than an amount can be (at most {BIGGEST} either way)",
        ),
        (
            {"credits": [{"type": "PROMOTION", "amount": Decimal("-9223372036.9")}]},
            "credits[0].amount: -9223372036.9 is more than an amount can be (at most "
            f"{BIGGEST} either way)",
        ),
        (
            {"credits": [{"type": "PROMOTION", "amount": Decimal("-5000000000")}] * 2},
            "credits: their sum is more than an amount can be",
        ),
        (
            {"usage": {"amount": Decimal("1E+29"), "unit": "byte-seconds"}},
            "usage.amount: 1E+29 is more than a usage amount can be (less than 1e29 either way)",
        ),
        (  # beyond Decimal's own exponents: was an Overflow crash
            {"cost": Decimal("1E+999999")},
            f"cost: 1E+999999 is more than an amount can be (at most {BIGGEST} either way)",
        ),
        (
            {"credits": [{"type": "PROMOTION", "amount": Decimal("-1E+999999")}]},
            "credits[0].amount: -1E+999999 is more than an amount can be (at most "
            f"{BIGGEST} either way)",
        ),
        (
            {"usage": {"amount": Decimal("1E+9999999"), "unit": "byte-seconds"}},
            "usage.amount: 1E+9999999 is more than a usage amount can be (less than 1e29 "
            "either way)",
        ),
    ],
)
@pytest.mark.usefixtures("both_parsers")
def test_an_amount_beyond_what_the_import_holds_is_refused_naming_it(
    platform, write_export, changes, message
):
    """Instead of the database's overflow crashing the import."""
    rows = [export_row("1.00"), {**export_row("1.00", sku="x"), **changes}]
    record = import_file(write_export(rows))
    assert record.status == "refused"
    assert record.message == f"export.jsonl:2: {message} — refused, nothing imported"
    assert CostDaily.objects.count() == 0
    largest = {**export_row("9223372036.854775807"), "usage": {"amount": Decimal("9" * 29)}}
    assert import_file(write_export([largest], name="largest.jsonl")).status == "succeeded"


@pytest.mark.usefixtures("both_parsers")
def test_long_texts_in_any_stored_field_are_imported_whole(platform, write_export):
    """Google's texts have no length the import may assume: none is cut, none crashes."""
    long = {
        "service": {"id": "S" * 100, "description": "Service " * 60},
        "sku": {"id": "K" * 100, "description": "SKU " * 300},
        "location": {"region": "r" * 100},
        "usage": {"amount": Decimal("1"), "unit": "u" * 100},
        "cost_type": "t" * 60,
        "project": {"id": "p" * 200},
        "currency_conversion_rate": Decimal("1." + "3" * 60),
    }
    record = import_file(write_export([{**export_row("2.50"), **long}]))
    assert record.status == "succeeded", record.message
    bucket = CostDaily.objects.get()
    assert bucket.sku_description == "SKU " * 300 and bucket.component == "Service " * 60
    assert (bucket.service_id, bucket.region, bucket.usage_unit) == (
        "S" * 100,
        "r" * 100,
        "u" * 100,
    )
    assert bucket.currency_conversion_rate == "1." + "3" * 27  # its identity's 28 digits
    assert bucket.project_id == "p" * 200
    assert month_report("2026-10")["services"] == {"Service " * 60: "2.50"}


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"sku": {"id": "S-1", "description": "CPU\u0000"}}, 'sku.description: "CPU\\u0000"'),
        ({"labels": [{"key": "app", "value": "\u0000"}]}, 'labels[0].value: "\\u0000"'),
        (
            {"credits": [{"type": "A\u0000", "amount": Decimal("-1")}]},
            'credits[0].type: "A\\u0000"',
        ),
    ],
)
@pytest.mark.usefixtures("both_parsers")
def test_a_nul_character_in_a_kept_text_is_refused_naming_it(
    platform, write_export, changes, named
):
    """PostgreSQL cannot store it; a NUL in a field the import does not keep is fine."""
    record = import_file(write_export([export_row("1.00"), {**export_row("2.00"), **changes}]))
    assert record.message == (
        f"export.jsonl:2: {named} holds a NUL character, which cannot be stored — refused, "
        "nothing imported"
    )
    ignored = {**export_row("3.00"), "seller_name": "a\u0000b"}
    assert import_file(write_export([ignored], name="ignored.jsonl")).status == "succeeded"


@pytest.mark.parametrize("constant", [b"NaN", b"Infinity", b"-Infinity"])
@pytest.mark.parametrize("field", ["cost", "pad"])
def test_nan_and_infinity_are_not_json_and_refuse_the_file(platform, write_export, constant, field):
    line = ndjson([{**export_row("1.00"), field: "@@"}]).replace(b'"@@"', constant)
    record = import_file(write_export(ndjson([export_row("2.00")]) + line))
    assert record.status == "refused"
    assert record.message == (
        f"export.jsonl:2: not valid JSON ({constant.decode()} is not a JSON number) — refused, "
        "nothing imported"
    )
    assert CostDaily.objects.count() == 0


@pytest.mark.parametrize("depth", [5000, 100_000])
def test_a_line_nested_too_deeply_is_refused_with_the_line(platform, write_export, depth):
    good = ndjson([export_row("1.00")])
    deep = b'{"cost": 1.0, "x": ' + b"[" * depth + b"]" * depth + b"}\n"
    record = import_file(write_export(good + deep, name="deep.jsonl"))
    assert record.status == "refused"
    assert record.message == (
        "deep.jsonl:2: not valid JSON (nested too deeply) — refused, nothing imported"
    )
    assert CostDaily.objects.count() == 0


@pytest.mark.parametrize("text", [rb'"\ud800"', b'"\xed\xa0\x80"', rb'"a\udfffb"'])
@pytest.mark.usefixtures("both_parsers")
def test_a_string_holding_a_lone_surrogate_is_refused_with_the_line(platform, write_export, text):
    """JSON's grammar lets an escape name half a UTF-16 pair; no text holds one."""
    rows = [export_row("2.00"), {**export_row("1.00"), "seller_name": "<here>"}]
    record = import_file(write_export(ndjson(rows).replace(b'"<here>"', text)))
    assert record.status == "refused"
    assert record.message == (
        "export.jsonl:2: not valid JSON (a string holds a lone UTF-16 surrogate (\\ud800 to "
        "\\udfff), which is not text) — refused, nothing imported"
    )
    assert CostDaily.objects.count() == 0


@pytest.mark.usefixtures("both_parsers")
def test_a_line_longer_than_any_export_row_is_refused_with_the_line(platform, write_export):
    """A JSON array saved on one line, say: refused as it streams, not read into memory."""
    good = ndjson([export_row("1.00")])
    huge = b'[{"cost": 1.0, "pad": "' + b"x" * (17 << 20) + b'"}]'
    record = import_file(write_export(good + huge, name="array.json"))
    assert record.status == "refused"
    assert record.message == (
        "array.json:2: a line longer than 16 MiB, which no export row is (one JSON object "
        "a line is expected) — refused, nothing imported"
    )
    assert CostDaily.objects.count() == 0


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.usefixtures("both_parsers")
def test_a_byte_order_mark_before_the_first_line_is_not_part_of_the_row(platform, write_export, gz):
    rows = [export_row("1.25"), export_row("2.50", sku="other")]
    marked = import_file(write_export(b"\xef\xbb\xbf" + ndjson(rows), name="bom.jsonl", gz=gz))
    plain = import_file(write_export(rows, name="plain.jsonl"))
    assert (marked.status, marked.format, marked.rows_new) == ("succeeded", "bq-json", 2)
    assert (plain.status, plain.rows_new, plain.rows_known) == ("succeeded", 0, 2)


def test_a_json_array_is_refused_saying_the_export_is_read_one_object_a_line(
    platform, write_export
):
    text = b"[\n" + ndjson([export_row("1.25"), export_row("2.50")]).replace(b"}\n{", b"},\n{")
    record = import_file(write_export(text + b"]\n", name="results.json"))
    assert record.status == "refused"
    assert record.message == (
        "results.json: a JSON array; the importer reads the export as newline-delimited "
        "JSON, one object a line (bq extract --destination_format NEWLINE_DELIMITED_JSON) "
        "— refused, nothing imported"
    )


@pytest.mark.usefixtures("both_parsers")
def test_malformed_json_and_broken_gzip_are_refused_with_the_line(platform, write_export):
    good = ndjson([export_row("1.00"), export_row("2.00", sku="other")])
    record = import_file(write_export(good + b'{"cost": 3.0,\n', name="cut.jsonl"))
    assert record.status == "refused"
    assert record.message.startswith("cut.jsonl:3: not valid JSON (")
    assert record.message.endswith("— refused, nothing imported")
    broken = write_export(good * 200, name="broken.jsonl.gz", gz=True)
    data = broken.read_bytes()
    broken.write_bytes(data[: len(data) // 2])
    record = import_file(broken)
    assert record.status == "refused"
    assert "the gzip data is broken" in record.message
    assert CostDaily.objects.count() == 0 and net() == "0.00"
    assert len(record.sha256) == 64
    cut = import_file(write_export(good + b'{"sku": "CPU\n', name="cut-string.jsonl"))
    assert cut.message == (
        "cut-string.jsonl:3: not valid JSON (Unterminated string starting at column 9) — "
        "refused, nothing imported"
    )


@pytest.mark.parametrize("cost", [None, "absent"])
def test_a_row_without_a_cost_says_the_cost_is_missing(platform, write_export, cost):
    row = export_row("1.00")
    if cost is None:
        row["cost"] = None
    else:
        del row["cost"]
    record = import_file(write_export([export_row("2.00"), row]))
    assert record.message == "export.jsonl:2: cost: is missing — refused, nothing imported"


def test_attribution_by_labels_before_project_else_unallocated(platform, write_export):
    rows = [
        # In the staging project but labelled production: the labels win.
        export_row("1.00", project="acme-staging", labels={"env": "production", "app": "agent"}),
        # No labels: the project decides; the component falls back to the GCP service.
        export_row("2.00", project="acme-staging", service="Cloud SQL"),
        # A label naming no service of the environment: the GCP service, not the label.
        export_row("4.00", project="acme-prod", labels={"app": "mystery"}, service="Networking"),
        # Neither: unallocated, and shown.
        export_row("8.00", project="someone-elses"),
    ]
    import_file(write_export(rows))
    by_cost = {
        day.net: (day.environment.slug if day.environment else None, day.component)
        for day in CostDaily.objects.select_related("environment")
    }
    assert by_cost == {
        Decimal("1"): ("production", "agent"),
        Decimal("2"): ("staging", "Cloud SQL"),
        Decimal("4"): ("production", "Networking"),
        Decimal("8"): (None, "Cloud Run"),
    }
    report = month_report("2026-10")
    unallocated = report["environments"]["unallocated"]
    assert unallocated == {"cost": "8.00", "credits": "0.00", "net": "8.00"}


def test_import_history_and_audit_record_the_months_before_and_after(platform, write_export):
    import_file(write_export([export_row("1.25")], name="a.jsonl"))
    record = import_file(
        write_export([export_row("1.25"), export_row("0.75", sku="x")], name="b.jsonl"),
        actor="carol",
    )
    record.refresh_from_db()
    assert (record.rows_read, record.rows_new, record.rows_known) == (2, 1, 1)
    assert record.months == {"2026-10": {"before": "1.25", "after": "2.00"}}
    assert record.actor == "carol" and len(record.sha256) == 64
    event = AuditEvent.objects.filter(action="billing.imported").first()
    assert event.actor == "carol"
    assert event.detail["months"] == record.months
    assert BillingImport.objects.filter(status="succeeded").count() == 2


@pytest.mark.usefixtures("both_parsers")
def test_report_totals_tie_to_an_independent_decimal_sum(platform, write_export):
    # Amounts whose float sum drifts: the exact sum must come out.
    rows = [
        export_row("0.1", sku=f"s{n % 5}", credits=[("DISCOUNT", "-0.0049995")])
        for n in range(1000)
    ]
    import_file(write_export(rows))
    expected = canonical_month_totals(rows)["2026-10"]
    assert net() == str(expected.quantize(Decimal("0.01")))
    assert json.loads(json.dumps(month_report("2026-10")))["total"]["cost"] == "100.00"


def test_changing_cost_labels_in_the_platform_file_reattributes_history(
    platform, write_export, tmp_path
):
    from platform_admin.platform_file import load_platform
    from platform_admin.sync import sync_platform
    from tests.conftest import EXAMPLE_PLATFORM

    import_file(write_export([export_row("5.00", project="someone-elses", labels={"team": "x"})]))
    assert month_report("2026-10")["environments"]["unallocated"]["net"] == "5.00"
    text = EXAMPLE_PLATFORM.read_text()
    # staging's cost labels become {team = "x"}: the unallocated row is staging's now.
    edited = text.replace('cost_labels = { env = "staging" }', 'cost_labels = { team = "x" }', 1)
    assert edited != text
    changed = tmp_path / "platform.toml"
    changed.write_text(edited)

    report = sync_platform(load_platform(changed))

    assert "cost attribution (1 daily cost buckets moved)" in report.updated
    figures = month_report("2026-10")["environments"]
    assert figures["staging"]["net"] == "5.00" and figures["unallocated"]["net"] == "0.00"
    assert AuditEvent.objects.filter(action="billing.reattributed").exists()


@pytest.mark.django_db(transaction=True)
def test_labels_changed_while_an_import_counts_reattribute_its_rows_too(
    platform, write_export, tmp_path, monkeypatch
):
    """sync_platform during an import: the import attributes with the rules it read, so
    the reattribution waits for it to commit, then moves its buckets as well."""
    import threading

    from django.db import connection

    from costs import rollup
    from platform_admin.platform_file import load_platform
    from platform_admin.sync import sync_platform
    from tests.conftest import EXAMPLE_PLATFORM

    text = EXAMPLE_PLATFORM.read_text()
    edited = text.replace('cost_labels = { env = "staging" }', 'cost_labels = { team = "x" }', 1)
    changed = tmp_path / "platform.toml"
    changed.write_text(edited)
    counting, go_on = threading.Event(), threading.Event()
    real_add = rollup.add

    def add(*args, **kwargs):  # the import, holding its lock, halts before its rollups
        counting.set()
        go_on.wait(30)
        return real_add(*args, **kwargs)

    monkeypatch.setattr(rollup, "add", add)
    export = write_export([export_row("5.00", project="someone-elses", labels={"team": "x"})])
    results = {}

    def run(name, work):
        try:
            results[name] = work()
        finally:
            connection.close()

    importing = threading.Thread(target=run, args=("import", lambda: import_file(export)))
    importing.start()
    assert counting.wait(30)
    syncing = threading.Thread(
        target=run, args=("sync", lambda: sync_platform(load_platform(changed)))
    )
    syncing.start()
    syncing.join(1.5)  # the sync, had it not waited, would be done by now
    go_on.set()
    importing.join(30)
    syncing.join(30)

    assert results["import"].status == "succeeded"
    assert "cost attribution (1 daily cost buckets moved)" in results["sync"].updated
    figures = month_report("2026-10")["environments"]
    assert figures["staging"]["net"] == "5.00" and figures["unallocated"]["net"] == "0.00"


@pytest.mark.usefixtures("both_parsers")
def test_a_bad_line_before_broken_gzip_data_is_the_one_named(platform, write_export):
    """The gzip data breaks in the file's third MiB: the bad line 17, read long before
    the break, is the one named, and nothing is imported."""
    rows = [export_row(f"{n}.00", sku=f"S{n}") for n in range(1, 40)]
    rows[16]["cost"] = "twelve dollars"
    data = ndjson(rows)
    data *= (3 << 20) // len(data)  # ~3 MiB of lines: the break is past the first read
    broken = write_export(data, name="broken.jsonl.gz", gz=True)
    broken.write_bytes(broken.read_bytes()[:-200])
    record = import_file(broken)
    assert record.message.startswith("broken.jsonl.gz:17: cost:"), record.message
    assert BillingRow.objects.count() == 0


@pytest.mark.usefixtures("both_parsers")
def test_rows_summing_past_what_a_bucket_holds_are_refused_not_a_crash(platform, write_export):
    """Each row within the bound, their day's sum past it: in one file, or added to the
    bucket an earlier file filled."""
    big = export_row("5000000000.00")
    record = import_file(write_export([export_row("1.00", sku="other"), big, big]))
    assert record.status == "refused"
    assert record.message == (
        "export.jsonl: the rows of 2026-10-05 for CPU Allocation Time in acme-staging sum to "
        f"more than an amount can be (at most {BIGGEST} either way) — refused, nothing imported"
    )
    assert CostDaily.objects.count() == 0 and BillingRow.objects.count() == 0

    assert import_file(write_export([big], name="first.jsonl")).status == "succeeded"
    again = import_file(write_export([big, big], name="second.jsonl"))  # one more than known
    assert again.status == "refused" and again.message.startswith("second.jsonl: the rows of")
    assert net() == "5000000000.00"


@pytest.mark.usefixtures("both_parsers")
def test_usage_summing_past_what_a_bucket_holds_is_refused_not_a_crash(platform, write_export):
    heavy = {**export_row("1.00"), "usage": {"amount": Decimal("6E+28"), "unit": "bytes"}}

    record = import_file(write_export([heavy, heavy]))

    assert record.status == "refused"
    assert record.message == (
        "export.jsonl: the usage of 2026-10-05 for CPU Allocation Time in acme-staging sums "
        "to more than a usage amount can be (less than 1e29 either way) — refused, nothing "
        "imported"
    )
    assert CostDaily.objects.count() == 0 and BillingRow.objects.count() == 0


@pytest.mark.usefixtures("both_parsers")
def test_a_row_in_another_currency_than_the_accounts_is_refused_naming_its_line(
    platform, write_export
):
    """USD and EUR added up would be neither; the account's currency is the platform
    file's [billing] currency."""
    rows = [export_row("1.00"), export_row("2.00"), {**export_row("3.00"), "currency": "EUR"}]
    record = import_file(write_export(rows))
    assert record.status == "refused"
    assert record.message == (
        'export.jsonl:3: currency: "EUR" is not the billing account\'s currency (USD, '
        "[billing] currency in the platform file); an export holds one account's rows — "
        "refused, nothing imported"
    )
    assert CostDaily.objects.count() == 0


@pytest.mark.usefixtures("both_parsers")
def test_usage_on_a_day_still_to_come_is_refused_naming_its_line(platform, write_export):
    from datetime import timedelta

    from costs.month import today

    later = today() + timedelta(days=3)
    rows = [export_row("1.00"), export_row("2.00", start=f"{later} 20:00:00 UTC")]
    record = import_file(write_export(rows))
    assert record.status == "refused"
    assert record.message == (
        f"export.jsonl:2: usage_start_time: its usage day {later} (US/Pacific) is still to "
        "come; an export holds only usage that happened — refused, nothing imported"
    )
    tomorrow = today() + timedelta(days=1)  # in Pacific time: 12:00 PST / 13:00 PDT
    ahead = import_file(write_export([export_row("1.00", start=f"{tomorrow} 20:00:00 UTC")]))
    assert ahead.status == "refused" and f"its usage day {tomorrow} (US/Pacific)" in ahead.message
    early = f"{today()} 08:00:00 UTC"  # today's first hour in Pacific time: it happened
    assert import_file(write_export([export_row("1.00", start=early)])).status == "succeeded"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("invoice", {"month": "202610\n"}, '"202610\\n" is not a month like 202610'),
        ("invoice", {"month": "000101"}, '"000101" is not a month like 202610'),
        ("invoice", {"month": "300001"}, '"300001" is not a month like 202610'),
        ("invoice", {"month": "２０２６10"}, '"２０２６10" is not a month like 202610'),
        (
            "usage_start_time",
            "1969-07-20 20:17:00 UTC",
            '"1969-07-20 20:17:00 UTC" is before 1970, older than any export',
        ),
    ],
)
def test_a_month_or_day_no_export_holds_is_refused(platform, write_export, field, value, message):
    """The pages could not show a month of year 0 or past 9999."""
    rows = [export_row("1.00"), {**export_row("2.00"), field: value}]
    record = import_file(write_export(rows))
    name = "invoice.month" if field == "invoice" else field
    assert record.message == f"export.jsonl:2: {name}: {message} — refused, nothing imported"


def test_a_file_of_blank_lines_only_is_refused(platform, write_export):
    record = import_file(write_export(b"\n  \n\r\n"))
    assert record.status == "refused"
    assert (
        record.message == "export.jsonl: the file holds no export rows — refused, nothing imported"
    )


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32"])
def test_a_utf16_file_is_refused_saying_to_save_it_as_utf8(platform, write_export, encoding):
    """With or without a byte order mark: one sentence, not a JSON error on line 2."""
    text = ndjson([export_row("1.00"), export_row("2.00")]).decode().encode(encoding)
    record = import_file(write_export(text))
    assert record.status == "refused"
    assert record.message == (
        'export.jsonl: UTF-16 or UTF-32 text (as Windows saves "Unicode"); exports are UTF-8: '
        "save it as UTF-8 — refused, nothing imported"
    )


def test_replacing_the_month_counts_it_from_the_file_alone(platform, write_export):
    """A month polluted by a wrong file is reset by importing the right one with
    "replace the month"; another month is left as it was."""
    wrong = write_export([export_row("500"), export_row("7", month="202609")], "wrong.jsonl")
    right = write_export([export_row("10"), export_row("2")], "right.jsonl")
    import_file(wrong)
    import_file(right)
    assert net() == "512.00"

    record = import_file(right, replace_months=True)

    assert record.status == "succeeded", record.message
    assert (record.rows_new, record.rows_known) == (2, 0)  # counted again, from this file
    assert record.message == (
        "2 rows read: 2 new, 0 already known; 2026-10 replaced (emptied, then counted from "
        "this file)"
    )
    assert record.months == {"2026-10": {"before": "512.00", "after": "12.00", "replaced": True}}
    assert net() == "12.00" and net("2026-09") == "7.00"
    assert BillingRow.objects.filter(invoice_month="2026-10").count() == 2
    assert import_file(right).rows_new == 0 and net() == "12.00"  # its rows are known again


@pytest.mark.parametrize("rate", ["0", "-0.0", "-1.2"])
@pytest.mark.usefixtures("both_parsers")
def test_a_conversion_rate_of_zero_or_below_refuses_the_file(platform, write_export, rate):
    rows = [export_row("1.00"), export_row("2.00", currency_conversion_rate=Decimal(rate))]

    record = import_file(write_export(rows))

    assert record.message == (
        f"export.jsonl:2: currency_conversion_rate: {rate} is not a conversion rate (above 0) "
        "— refused, nothing imported"
    )


@pytest.mark.usefixtures("both_parsers")
def test_rows_of_another_billing_account_refuse_the_file(platform, write_export):
    """An export holds one account's rows: another account's would be counted as ours."""
    ours = export_row("1.00", billing_account_id="01A2B3-C4D5E6-F7A8B9")
    none = export_row("2.00", billing_account_id=None)
    theirs = export_row("6.00", billing_account_id="ZZZZZZ-ZZZZZZ-ZZZZZZ")

    record = import_file(write_export([ours, none, ours, theirs, ours]))

    assert record.message == (
        'export.jsonl:4: billing_account_id: "ZZZZZZ-ZZZZZZ-ZZZZZZ" is not the billing account '
        "of the platform file (01A2B3-C4D5E6-F7A8B9, [billing] account); an export holds one "
        "account's rows — refused, nothing imported"
    )
    assert not CostDaily.objects.exists()
    assert import_file(write_export([ours, none])).rows_new == 2
