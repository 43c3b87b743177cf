from django.shortcuts import render

from platform_admin.models import Environment
from platform_admin.timeline import rollout_marks

RECENT_ROLLOUTS = 5


def index(request):
    """Per-environment objectives and the last rollouts (from the platform's timeline);
    live samples arrive with the health collection work."""
    environments = list(Environment.objects.all())
    marks = rollout_marks([env.slug for env in environments], limit=RECENT_ROLLOUTS * 10)
    recent = {
        env.slug: [m for m in marks if m.environment == env.slug][:RECENT_ROLLOUTS]
        for env in environments
    }
    rows = [{"environment": env, "rollouts": recent[env.slug]} for env in environments]
    return render(request, "monitoring/index.html", {"rows": rows})
