"""The health part of the Overview: each environment's objectives (live samples come with
the health collection work)."""

from platform_admin.overview import Part


def contexts(environments) -> dict[int, dict]:
    return {
        env.pk: {"p95_ms": env.slo_p95_ms, "uptime": env.slo_uptime, "samples": None}
        for env in environments
    }


PART = Part("Health", "monitoring/_overview_part.html", contexts)
