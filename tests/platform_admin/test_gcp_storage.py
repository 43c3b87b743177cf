"""Cloud Storage and Cloud CDN adapters against the sandbox: the official clients
(google-cloud-storage over the JSON API, compute_v1.UrlMapsClient) end to end."""

import json
import uuid

import pytest

from platform_admin import gcp
from platform_admin.gcp_compute import invalidate_cdn
from platform_admin.gcp_storage import (
    copy_object,
    fetch_page,
    list_objects,
    public_url,
    read_object,
)
from tests.platform_admin.conftest import STAGING

BUILDS = "acme-builds"
SITE = "acme-staging-frontend"
PREFIX = "frontend/builds/2.0.0/"


def _copy(generation: int, source="index.html", cache="public, max-age=60", metadata=None):
    """A build's file onto the site's index.html, precondition `generation`."""
    return copy_object(
        STAGING,
        BUILDS,
        PREFIX + source,
        SITE,
        "index.html",
        if_generation_match=generation,
        content_type="text/html",
        cache_control=cache,
        metadata=metadata or {},
    )


def test_a_build_lists_with_its_checksums_and_its_manifest_names_them(gcp_sandbox):
    listing = list_objects(STAGING, BUILDS, PREFIX)
    manifest = json.loads(read_object(STAGING, BUILDS, PREFIX + "manifest.json"))

    assert "index.html" in listing and "manifest.json" in listing
    assert set(manifest["files"]) == set(listing) - {"manifest.json"}
    for name, sums in manifest["files"].items():
        assert listing[name].md5 == sums["md5Hash"] and listing[name].crc32c == sums["crc32c"]
        assert listing[name].generation > 0 and listing[name].size > 0
    assert b"frontend 2.0.0" in read_object(STAGING, BUILDS, PREFIX + "index.html")


def test_a_copy_is_server_side_with_the_headers_asked_and_honours_its_precondition(
    gcp_sandbox,
):
    served = list_objects(STAGING, SITE)["index.html"]
    copied = _copy(served.generation, metadata={"build": f"gs://{BUILDS}/{PREFIX}"})
    assert copied.generation > served.generation
    assert copied.cache_control == "public, max-age=60"
    assert copied.metadata == {"build": f"gs://{BUILDS}/{PREFIX}"}
    rewrites = [r for r in gcp_sandbox.requests() if "/rewriteTo/" in r["path"]]
    assert len(rewrites) == 1 and rewrites[0]["method"] == "POST"
    assert not [
        r for r in gcp_sandbox.requests() if r["method"] in ("PUT",) or "upload" in r["path"]
    ]

    # The generation it was read at is gone: the copy is refused, nothing changes.
    with pytest.raises(gcp.GcpInvalidRequest, match="pre-conditions"):
        _copy(served.generation, source="robots.txt")
    assert list_objects(STAGING, SITE)["index.html"].generation == copied.generation
    with pytest.raises(gcp.GcpInvalidRequest):  # 0: only when the object does not exist
        _copy(0)


def test_the_cdn_serves_its_copy_until_an_invalidation_is_done(gcp_sandbox):
    url = public_url(SITE, "https://staging.acme.example/")
    status, before, _ = fetch_page(url)
    assert status == 200 and b"frontend 1.0.0" in before
    _copy(list_objects(STAGING, SITE)["index.html"].generation)
    assert fetch_page(url)[1] == before  # the CDN's cached copy

    invalidate_cdn(STAGING, "frontend-lb", {"/": str(uuid.uuid4())})

    status, after, _ = fetch_page(url)
    assert status == 200 and b"frontend 2.0.0" in after
    waits = [r for r in gcp_sandbox.requests() if r["path"].endswith("/wait")]
    assert waits and "/global/operations/" in waits[0]["path"]


def test_an_unknown_url_map_is_not_found(gcp_sandbox):
    with pytest.raises(gcp.GcpNotFound, match="no-such-lb"):
        invalidate_cdn(STAGING, "no-such-lb", {"/": str(uuid.uuid4())})


def test_a_missing_object_is_not_found(gcp_sandbox):
    with pytest.raises(gcp.GcpNotFound, match="nothing-here"):
        read_object(STAGING, BUILDS, "frontend/nothing-here.txt")
