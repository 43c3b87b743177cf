"""The costs part of `sync_platform` (settings.PLATFORM_SYNC_PARTS): after the platform
file changed environments (their cost_labels, gcp_project, services) or the component
label, the daily rollups are attributed again, so history follows the new rules."""

from costs import rollup
from platform_admin import audit


def reattribute(spec, actor, report) -> None:
    if not report.changed:
        return
    moved = rollup.reattribute()
    if moved:
        audit.record("billing.reattributed", actor=actor, detail={"buckets_moved": moved})
        report.updated.append(f"cost attribution ({moved} daily cost buckets moved)")
