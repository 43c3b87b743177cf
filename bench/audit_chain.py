"""Audit trail: the cost of writing and verifying the hash chain.

Baselines measured in the same run, on the same database:
- write: a plain ORM insert of the same rows, one transaction each (no lock, no read of
  the previous hash). Target: chained writes ≤ 3× the plain insert.
- verify: computing the same hashes over rows already in memory (no database). Target:
  verify_audit ≤ 10× that, i.e. reading rows must not dominate absurdly.
"""

import hashlib

from _django import throwaway_database, timed

N_WRITES = 2_000
N_VERIFY = 50_000
DETAIL = {"release": "1.4.0", "step": 25, "services": ["api-server", "realtime"]}


def chained_writes(audit, transaction):
    for i in range(N_WRITES):
        with transaction.atomic():
            audit.record(
                "bench.write", actor="bench", environment="staging", detail=DETAIL | {"i": i}
            )


def plain_writes(model, transaction, now):
    for i in range(N_WRITES):
        with transaction.atomic():
            model.objects.create(
                created_at=now(),
                actor="bench",
                action="bench.plain",
                environment="staging",
                detail=DETAIL | {"i": i},
                prev_hash="0" * 64,
                hash=hashlib.sha256(f"plain-{i}".encode()).hexdigest(),
            )


def extend_chain(audit, model, now, count):
    """Append correctly chained rows in bulk, so verify has a long chain to walk."""
    prev = (
        model.objects.filter(action="bench.write").order_by("-id").values_list("hash", flat=True)[0]
    )
    batch = []
    for i in range(count):
        event = model(
            created_at=now(),
            actor="bench",
            action="bench.bulk",
            environment="production",
            detail={"i": i},
            prev_hash=prev,
        )
        event.hash = prev = audit.compute_hash(event)
        batch.append(event)
    model.objects.bulk_create(batch, batch_size=2000)


def main() -> None:
    with throwaway_database():
        from django.db import transaction
        from django.utils.timezone import now

        from platform_admin import audit
        from platform_admin.models import AuditEvent

        chained, _ = timed(chained_writes, audit, transaction, repeat=1)
        plain, _ = timed(plain_writes, AuditEvent, transaction, now, repeat=1)
        print(
            f"write {N_WRITES} events: chained {chained:.2f}s, plain insert {plain:.2f}s, "
            f"ratio {chained / plain:.2f}x (target <= 3x)"
        )

        extend_chain(audit, AuditEvent, now, N_VERIFY - N_WRITES)
        # The plain rows are outside the chain by construction; verify walks the chain.
        chain = AuditEvent.objects.exclude(action="bench.plain").order_by("id")
        verify, report = timed(
            lambda: audit.verify_chain(chain.iterator(chunk_size=2000)), repeat=1
        )
        assert report.intact, report.reason
        rows = list(chain[:5000])
        hashing, _ = timed(lambda: [audit.compute_hash(e) for e in rows])
        per_verify, per_hash = verify / report.count, hashing / len(rows)
        print(
            f"verify {report.count} events: {verify:.2f}s ({per_verify * 1e6:.1f} us/event); "
            f"hashing alone {per_hash * 1e6:.1f} us/event, ratio {per_verify / per_hash:.2f}x "
            "(target <= 10x)"
        )


if __name__ == "__main__":
    main()
