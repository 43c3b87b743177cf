import warnings

from django.core.cache.backends.base import CacheKeyWarning

from platform_admin import page_cache


def test_a_part_is_built_once_per_versions_under_a_key_memcached_accepts():
    """A drill-down's part name holds spaces and can run past memcached's 250 characters."""
    built = []

    def build():
        built.append(1)
        return f"<p>{len(built)}</p>"

    name = "costs-month:2026-10:staging:api-server|Cloud Run|" + "SKU " * 80
    with warnings.catch_warnings():
        warnings.simplefilter("error", CacheKeyWarning)
        first = page_cache.part(name, (7, "2026-12-06"), build)
        again = page_cache.part(name, (7, "2026-12-06"), build)
        changed = page_cache.part(name, (8, "2026-12-06"), build)
    assert (first, again, changed) == ("<p>1</p>", "<p>1</p>", "<p>2</p>")
