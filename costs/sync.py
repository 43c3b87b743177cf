"""The costs parts of `sync_platform` (settings.PLATFORM_SYNC_FIRST and _PARTS): after
the platform file changed environments (their cost_labels, gcp_project, services) or the
component label, the daily rollups are attributed again, so history follows the new
rules."""

from costs import importer, rollup
from platform_admin import audit


def wait_for_imports() -> None:
    """First in sync_platform's transaction, until it commits: an import counting its rows
    attributes them with the rules it read, so the sync waits for it to commit (then its
    buckets are attributed again too), and the next import reads the new rules."""
    importer.lock()


def reattribute(spec, actor, report) -> None:
    if not report.changed:
        return
    moved = rollup.reattribute()
    if moved:
        audit.record("billing.reattributed", actor=actor, detail={"buckets_moved": moved})
        report.updated.append(f"cost attribution ({moved} daily cost buckets moved)")
