"""The app's URLs plus the health benchmark's baseline: a bare view that renders a
template of the same size as the environment health page (its HTML, verbatim), behind
the same middleware in the same server."""

import os
from functools import cache
from pathlib import Path

from django.http import HttpResponse
from django.template import engines
from django.urls import path

from platform_admin.urls import urlpatterns as app_urlpatterns


@cache
def _template():
    """Compiled once per process, at the first request (the benchmark writes the file
    from the health page the server answered before)."""
    text = Path(os.environ["BENCH_BARE_TEMPLATE"]).read_text()
    return engines["django"].from_string("{% verbatim %}" + text + "{% endverbatim %}")


def bare(request):
    return HttpResponse(_template().render({}, request))


urlpatterns = [*app_urlpatterns, path("bench/bare/", bare)]
