"""Browser: carol uploads an export on the Costs page, watches its progress (a job on the
billing queue, a real worker), sees the month's figures and drills into a component."""

# ruff: noqa: F811 - fixtures imported from another conftest are parameters of their name
import pytest
from playwright.sync_api import expect

from tests.browser import sign_in
from tests.costs.conftest import (  # noqa: F401 - fixtures used by name
    billing_worker,
    export_row,
    ndjson,
    redis_conn,
    upload_dir,
)

pytestmark = pytest.mark.browser
STAGING = {"env": "staging", "app": "api-server"}
ROWS = 200_000  # seconds of importing, on a fast machine too: the page shows it running


def test_carol_uploads_watches_progress_sees_the_month_and_drills_down(
    page, live_server, carol, platform, billing_worker, settings, tmp_path
):
    settings.BILLING_INLINE_IMPORT_BYTES = 1000  # a job, as a large export would be
    rows = [
        export_row(
            "0.05",
            labels=STAGING,
            start=f"2026-10-{1 + i % 28:02d} 15:00:00 UTC",
            sku="CPU Allocation Time" if i % 2 else "Memory Allocation Time",
        )
        for i in range(ROWS)
    ]
    export = tmp_path / "october.jsonl"
    export.write_bytes(ndjson(rows))
    base = live_server.url
    sign_in(page, base, "carol")

    page.goto(f"{base}/costs/?month=2026-10")
    page.set_input_files("input[name=file]", str(export))
    page.click("#upload-export")

    page.wait_for_url("**/costs/imports/*/")
    live = page.locator(".import-live")
    expect(page.locator(".import-live .progress")).to_contain_text(
        "rows read so far", timeout=30_000
    )
    expect(live).to_have_attribute("data-status", "succeeded", timeout=90_000)
    expect(live).to_contain_text(f"{ROWS} rows read: {ROWS} new, 0 already known")

    page.click("text=2026-10")
    staging = page.locator('tr[data-scope="staging"]')
    expect(staging.locator(".actual")).to_have_text("10,000.00")
    expect(staging.locator(".badge")).to_have_text("over")  # against its 300.00 target

    page.click('tr[data-component="api-server"] a')
    expect(page.locator(".drill")).to_contain_text("Cloud Run")
    page.click('.drill tr[data-item="Cloud Run"] a')
    cpu = page.locator('.drill tr[data-item="CPU Allocation Time"]')
    expect(cpu).to_contain_text("5,000.00")
    expect(cpu).to_contain_text("50.0%")
