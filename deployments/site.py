"""Deploying a release to a static site (Cloud Storage behind Cloud CDN).

A build is a Cloud Storage prefix (`gs://BUCKET/frontend/builds/1.5.0/`) holding the
files and a `manifest.json` that names each with its MD5 and CRC32C. A deploy:

1. checks the build against its manifest (every file there, every checksum equal);
2. copies the content-hashed assets into the serving bucket, server-side (a rewrite:
   no bytes through the worker), cached for a year;
3. switches the entry points (`index.html` last, and the other non-hashed files) to the
   build, cached for a minute: a visitor never gets an `index.html` whose assets are not
   there yet;
4. invalidates the CDN's copies of the entry points and waits until that is done;
5. checks that the public URL serves the build's `index.html`.

Every step compares before it writes (an object already equal is left alone) and
invalidations carry request ids derived from the rollout, so a pass that runs again
after a worker died redoes nothing. Each entry point records the build it belongs to and
the one it replaced (custom metadata), so the build to go back to survives a worker
killed half-way. A restore switches the entry points back to that build.
"""

import base64
import hashlib
import json
import re
import time
from dataclasses import dataclass

from django.conf import settings

from deployments.naming import request_id
from deployments.validators import BUILD_PREFIX_RE
from platform_admin import gcp_compute, gcp_storage
from platform_admin.gcp import GcpNotFound

MANIFEST = "manifest.json"
INDEX = "index.html"
LONG_CACHE = "public, max-age=31536000, immutable"
SHORT_CACHE = "public, max-age=60"
# A content-hashed file name (app.3f9a2c1b.js, chunk-5d41402a.css) or the assets folder.
HASHED = re.compile(r"(^|/)assets/|[.-][0-9a-f]{8,}\.[A-Za-z0-9]+$")


class SiteDeployFailed(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Build:
    ref: str
    bucket: str
    prefix: str
    files: dict[str, dict]  # name → {"md5Hash", "crc32c"} from the manifest
    content_types: dict[str, str]

    @property
    def version(self) -> str:
        return self.prefix.rstrip("/").rsplit("/", 1)[-1]

    @property
    def assets(self) -> list[str]:
        return sorted(n for n in self.files if HASHED.search(n))

    @property
    def entry_points(self) -> list[str]:
        """The non-hashed files, `index.html` last."""
        names = sorted(n for n in self.files if not HASHED.search(n))
        return [n for n in names if n != INDEX] + ([INDEX] if INDEX in names else [])


def read_build(project: str, ref: str, service_name: str) -> Build:
    """The build at `ref`, checked against its manifest; SiteDeployFailed says what is
    wrong with it."""
    match = BUILD_PREFIX_RE.fullmatch(ref)
    if not match:
        raise SiteDeployFailed(f"{service_name}: {ref} is not a build prefix (gs://BUCKET/PATH/)")
    bucket, prefix = match["bucket"], match["prefix"]
    try:
        raw = gcp_storage.read_object(project, bucket, prefix + MANIFEST)
    except GcpNotFound as exc:
        raise SiteDeployFailed(f"{service_name}: build {ref} has no {MANIFEST}") from exc
    files = _manifest_files(raw, ref, service_name)
    listing = gcp_storage.list_objects(project, bucket, prefix)
    for name, want in files.items():
        have = listing.get(name)
        if have is None:
            raise SiteDeployFailed(
                f"{service_name}: build {ref} lacks {name}, which its manifest lists"
            )
        if want.get("md5Hash") and have.md5 != want["md5Hash"]:
            raise SiteDeployFailed(
                f"{service_name}: build {ref}: {name} has MD5 {have.md5}, its manifest says "
                f"{want['md5Hash']}"
            )
        if want.get("crc32c") and have.crc32c != want["crc32c"]:
            raise SiteDeployFailed(
                f"{service_name}: build {ref}: {name} has CRC32C {have.crc32c}, its manifest "
                f"says {want['crc32c']}"
            )
    types = {name: listing[name].content_type for name in files}
    return Build(ref, bucket, prefix, files, types)


def _manifest_files(raw: bytes, ref: str, service_name: str) -> dict[str, dict]:
    where = f"{service_name}: {ref}{MANIFEST}"
    try:
        manifest = json.loads(raw)
    except ValueError as exc:
        raise SiteDeployFailed(f"{where} is not valid JSON: {exc}") from exc
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(files, dict) or not files:
        raise SiteDeployFailed(f'{where} has no "files" object naming the build\'s files')
    for name, sums in files.items():
        bad_name = not name or name.startswith("/") or ".." in name.split("/")
        if (
            bad_name
            or not isinstance(sums, dict)
            or not (sums.get("md5Hash") or sums.get("crc32c"))
        ):
            raise SiteDeployFailed(f"{where}: {name!r} needs a relative name and md5Hash or crc32c")
    if INDEX not in files:
        raise SiteDeployFailed(f"{where} has no {INDEX}")
    return files


def deploy(rollout, service, ref: str, events) -> None:
    """Bring `service` (a static_site) to build `ref`; raises SiteDeployFailed after
    putting the previous build back when the public URL does not serve it."""
    project = rollout.environment.gcp_project
    record = rollout.revisions.setdefault(service.name, {})
    build = read_build(project, ref, service.name)
    serving = gcp_storage.list_objects(project, service.bucket)
    record.setdefault("previous_build", _previous_build(serving, ref))
    assets, entries = _publish(project, service, build, serving, record["previous_build"])
    record["deployed"] = True
    events.append(
        (
            "site",
            f"{service.name}: build {build.version}: {assets} of {len(build.assets)} assets "
            f"copied, then {entries} of {len(build.entry_points)} entry points switched.",
            {"service": service.name, "build": ref},
        )
    )
    _invalidate(rollout, service, build, "invalidate", events)
    healthy, detail = verify(service, build)
    if healthy:
        events.append(("health", f"{service.name} serves build {build.version}: {detail}"))
        return
    events.append(("health", f"{service.name} does not serve build {build.version}: {detail}"))
    restore(rollout, service, events)
    raise SiteDeployFailed(
        f"{service.name} does not serve build {build.version} after the deploy ({detail}); "
        "the previous build's entry points were put back."
    )


def _previous_build(serving: dict, ref: str) -> str:
    """The build the site serves before this rollout: its `index.html`'s, or the one that
    one replaced when a pass of this rollout already switched it."""
    index = serving.get(INDEX)
    if index is None:
        return ""
    build = index.metadata.get("build", "")
    return index.metadata.get("previous-build", "") if build == ref else build


def _publish(project: str, service, build: Build, serving: dict, previous: str) -> tuple[int, int]:
    """Assets first, then the entry points; returns how many of each were written."""
    copied = 0
    for name in build.assets:
        have = serving.get(name)
        if have is not None and have.md5 == build.files[name].get("md5Hash", have.md5):
            continue  # content-hashed: the same name is the same file
        _copy(project, service, build, name, have, LONG_CACHE, {"build": build.ref})
        copied += 1
    switched = 0
    meta = {"build": build.ref, "previous-build": previous}
    for name in build.entry_points:
        have = serving.get(name)
        same = have is not None and have.md5 == build.files[name].get("md5Hash", have.md5)
        if same and have.metadata.get("build") == build.ref:
            continue
        _copy(project, service, build, name, have, SHORT_CACHE, meta)
        switched += 1
    return copied, switched


def _copy(project, service, build: Build, name: str, have, cache: str, metadata: dict) -> None:
    gcp_storage.copy_object(
        project,
        build.bucket,
        build.prefix + name,
        service.bucket,
        name,
        if_generation_match=have.generation if have is not None else 0,
        content_type=build.content_types.get(name, ""),
        cache_control=cache,
        metadata=metadata,
    )


def _invalidate(rollout, service, build: Build, label: str, events) -> None:
    if not service.url_map:
        return
    paths = ["/"] + [f"/{name}" for name in build.entry_points]
    gcp_compute.invalidate_cdn(
        rollout.environment.gcp_project,
        service.url_map,
        {path: request_id(rollout.pk, service.name, label, build.ref, path) for path in paths},
    )
    events.append(
        (
            "cdn",
            f"{service.name}: CDN cache of {', '.join(paths)} invalidated on {service.url_map}.",
        )
    )


def verify(service, build: Build) -> tuple[bool, str]:
    """Does the public URL serve the build's index.html? Asked a few times: (ok, detail)."""
    url = gcp_storage.public_url(service.bucket, service.public_url)
    want = build.files[INDEX].get("md5Hash", "")
    attempts = settings.SITE_VERIFY_ATTEMPTS
    detail = "not checked"
    for attempt in range(1, attempts + 1):
        status, body, detail = gcp_storage.fetch_page(url)
        got = base64.b64encode(hashlib.md5(body).digest()).decode()  # noqa: S324 - GCS's sum
        if status == 200 and got == want:
            return True, f"{detail} with the build's index.html (attempt {attempt})"
        if status == 200:
            detail = f"{detail} with another index.html (MD5 {got}, the build's is {want})"
        if attempt < attempts:
            time.sleep(settings.SITE_VERIFY_INTERVAL_SECONDS)
    return False, detail


def restore(rollout, service, events) -> None:
    """Switch the entry points back to the build the site served before the rollout (its
    assets are copied again where missing) and invalidate; nothing when this rollout did
    not change the site."""
    record = rollout.revisions.get(service.name, {})
    if "previous_build" not in record:
        return
    project = rollout.environment.gcp_project
    serving = gcp_storage.list_objects(project, service.bucket)
    index = serving.get(INDEX)
    current = index.metadata.get("build", "") if index else ""
    previous = record["previous_build"]
    if not previous:
        if record.get("deployed"):
            events.append(("site", f"{service.name}: no earlier build is known; left as it is."))
        return
    if current == previous and not record.get("deployed"):
        return
    build = read_build(project, previous, service.name)
    _publish(project, service, build, serving, previous)
    _invalidate(rollout, service, build, "restore", events)
    record["deployed"] = False
    events.append(("site", f"{service.name}: entry points back on build {build.version}."))
