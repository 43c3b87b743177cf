"""The Overview (home page): the whole platform at a glance, one part per app.

Each app above platform_admin contributes a part (live release and active rollout,
health, cost against target). The parts are handed in by the project's urls.py, which
wires every app, so this module imports none of them. A part is a function of the
environments returning, per environment id, the context of its template: one or two
queries for every environment at once, never one per environment.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.shortcuts import render

from platform_admin.models import Environment


@dataclass(frozen=True)
class Part:
    title: str
    template: str  # rendered with `part` = this environment's context
    contexts: Callable[[list[Environment]], dict[int, dict]]


def overview_view(parts: Sequence[Part]):
    def overview(request):
        environments = list(
            Environment.objects.select_related("promote_from").prefetch_related("services")
        )
        contexts = [(part, part.contexts(environments)) for part in parts]
        rows = [
            {
                "environment": env,
                "cells": [
                    {"title": part.title, "template": part.template, "part": ctx.get(env.pk, {})}
                    for part, ctx in contexts
                ],
            }
            for env in environments
        ]
        return render(request, "platform_admin/overview.html", {"rows": rows})

    return overview
