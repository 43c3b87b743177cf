"""Cloud Storage JSON API v1 (the subset the app uses), a CDN in front of the serving
buckets, and `urlMaps.invalidateCache` with its global operation.

- Objects: list (prefix, pages), get (metadata, or the bytes with `alt=media`, also on
  the `/download/` path the client uses), rewrite (server-side copy, one call: `done`),
  with generations and the `ifGenerationMatch` precondition (0: must not exist).
- Builds: any `…/builds/VERSION/` prefix of a bucket that is not a serving bucket holds a
  build the first time it is looked at (content-hashed assets, entry points and a
  `manifest.json` with every object's MD5 and CRC32C), so a release can name any version.
- The site: `GET /sandbox/v1/sites/BUCKET/PATH` answers as the public URL behind Cloud
  CDN: from its cache once a path was served, from the bucket otherwise. An
  invalidation clears the cached paths it matches when its operation is DONE (after
  `ready_delay`), as the real one does after a while.

All functions except the blocking `wait_global_operation` expect `state.lock` held.
"""

import base64
import hashlib
import json
from urllib.parse import unquote

import google_crc32c

from . import compute, det, faults
from .errors import ApiError, not_found

BUCKET = r"/storage/v1/b/(?P<bucket>[^/]+)"
OBJECT = BUCKET + r"/o/(?P<object>[^/]+)"
GLOBAL = r"/compute/v1/projects/(?P<project>[^/]+)/global"
API = "https://www.googleapis.com/compute/v1"
PAGE = 1000


class Raw:
    """A response that is not JSON: the bytes, their type and extra headers."""

    def __init__(self, data: bytes, content_type: str, headers: dict | None = None):
        self.data, self.content_type, self.headers = data, content_type, headers or {}


# --- seeding and builds -----------------------------------------------------------------


def seed(state, env, now: float) -> None:
    """Each static site's serving bucket holds the build its spec names (`version`)."""
    for spec in env.of_kind("static_site"):
        bucket = spec.get("bucket") or f"{env.project}-{spec.name}"
        version = str(spec.get("version", "1.0.0"))
        state.data["sites"][bucket] = {
            "project": env.project,
            "url_map": spec.get("url_map", ""),
        }
        ref = f"gs://{bucket}-builds/{spec.name}/builds/{version}/"
        for name, (data, kind) in build_files(spec.name, version).items():
            meta = {"build": ref} if not is_hashed(name) else {}
            _put(state, bucket, name, data, kind, now, cache_control="", metadata=meta)


def is_hashed(name: str) -> bool:
    return name.startswith("assets/")


def build_files(site: str, version: str) -> dict[str, tuple[bytes, str]]:
    """The files of build `version` of `site`: hashed assets, then the entry points."""
    script = f'console.log("{site} {version}");\n'.encode()
    style = f"/* {site} {version} */ body {{ margin: 0; }}\n".encode()
    js = f"assets/app.{hashlib.sha256(script).hexdigest()[:10]}.js"
    css = f"assets/app.{hashlib.sha256(style).hexdigest()[:10]}.css"
    index = (
        f'<!doctype html>\n<html><head><meta name="build" content="{version}">'
        f'<link rel="stylesheet" href="/{css}"></head>'
        f'<body><div id="app">{site} {version}</div><script src="/{js}"></script></body></html>\n'
    ).encode()
    return {
        js: (script, "text/javascript"),
        css: (style, "text/css"),
        "robots.txt": (b"User-agent: *\nAllow: /\n", "text/plain"),
        "index.html": (index, "text/html"),
    }


def _materialise_build(state, bucket: str, prefix: str, now: float) -> None:
    """Create the build under `prefix` (`[SITE/]builds/VERSION/`) if it is not there."""
    if bucket in state.data["sites"]:
        return
    parts = prefix.rstrip("/").split("/")
    if len(parts) < 2 or parts[-2] != "builds" or not parts[-1]:
        return
    objects = state.data["buckets"].setdefault(bucket, {})
    base = prefix if prefix.endswith("/") else prefix + "/"
    if any(name.startswith(base) for name in objects):
        return
    site = parts[-3] if len(parts) >= 3 else bucket
    files = build_files(site, parts[-1])
    manifest = {"version": parts[-1], "files": {}}
    for name, (data, kind) in files.items():
        obj = _put(state, bucket, base + name, data, kind, now)
        manifest["files"][name] = {"md5Hash": obj["md5Hash"], "crc32c": obj["crc32c"]}
    body = json.dumps(manifest, indent=2).encode()
    _put(state, bucket, base + "manifest.json", body, "application/json", now)


def _build_prefix_of(name: str) -> str:
    """`x/builds/1.2.0/` for an object name under a build, else ""."""
    parts = name.split("/")
    for i in range(len(parts) - 2):
        if parts[i] == "builds":
            return "/".join(parts[: i + 2]) + "/"
    return ""


# --- objects ------------------------------------------------------------------------------


def _put(state, bucket, name, data: bytes, kind, now, cache_control="", metadata=None) -> dict:
    objects = state.data["buckets"].setdefault(bucket, {})
    state.data["generation"] = state.data.get("generation", 1_700_000_000_000_000) + 1
    crc = google_crc32c.value(data).to_bytes(4, "big")
    obj = {
        "name": name,
        "bucket": bucket,
        "generation": state.data["generation"],
        "contentType": kind,
        "size": len(data),
        "md5Hash": base64.b64encode(hashlib.md5(data).digest()).decode(),  # noqa: S324 - GCS's own
        "crc32c": base64.b64encode(crc).decode(),
        "cacheControl": cache_control,
        "metadata": dict(metadata or {}),
        "updated": now,
        "data": base64.b64encode(data).decode(),
    }
    objects[name] = obj
    return obj


def render_object(obj: dict) -> dict:
    out = {
        "kind": "storage#object",
        "id": f"{obj['bucket']}/{obj['name']}/{obj['generation']}",
        "name": obj["name"],
        "bucket": obj["bucket"],
        "generation": str(obj["generation"]),
        "metageneration": "1",
        "contentType": obj["contentType"],
        "size": str(obj["size"]),
        "md5Hash": obj["md5Hash"],
        "crc32c": obj["crc32c"],
        "storageClass": "STANDARD",
        "timeCreated": det.rfc3339(obj["updated"]),
        "updated": det.rfc3339(obj["updated"]),
        "etag": det.digest("etag", obj["bucket"], obj["name"], obj["generation"])[:16],
    }
    if obj["cacheControl"]:
        out["cacheControl"] = obj["cacheControl"]
    if obj["metadata"]:
        out["metadata"] = dict(obj["metadata"])
    return out


def _object(state, bucket: str, name: str, now: float) -> dict:
    if prefix := _build_prefix_of(name):
        _materialise_build(state, bucket, prefix, now)
    obj = state.data["buckets"].get(bucket, {}).get(name)
    if obj is None:
        raise not_found(f"No such object: {bucket}/{name}")
    return obj


def _media(obj: dict) -> Raw:
    return Raw(
        base64.b64decode(obj["data"]),
        obj["contentType"],
        {"x-goog-generation": str(obj["generation"]), "x-goog-hash": f"md5={obj['md5Hash']}"},
    )


def list_objects(state, req, m):
    bucket, prefix = m["bucket"], req.query.get("prefix", "")
    if prefix:
        _materialise_build(state, bucket, prefix, req.now)
    names = sorted(n for n in state.data["buckets"].get(bucket, {}) if n.startswith(prefix))
    start = int(req.query.get("pageToken") or 0)
    size = min(int(req.query.get("maxResults") or PAGE), PAGE)
    page = names[start : start + size]
    objects = state.data["buckets"].get(bucket, {})
    out = {"kind": "storage#objects", "items": [render_object(objects[n]) for n in page]}
    if start + size < len(names):
        out["nextPageToken"] = str(start + size)
    return 200, out


def get_object(state, req, m):
    obj = _object(state, m["bucket"], unquote(m["object"]), req.now)
    if req.query.get("alt") == "media":
        return 200, _media(obj)
    return 200, render_object(obj)


def download_object(state, req, m):
    return 200, _media(_object(state, m["bucket"], unquote(m["object"]), req.now))


def rewrite_object(state, req, m):
    """Server-side copy with the destination's metadata from the body, in one call."""
    source = _object(state, m["bucket"], unquote(m["object"]), req.now)
    dest_bucket, dest_name = m["dest_bucket"], unquote(m["dest_object"])
    current = state.data["buckets"].get(dest_bucket, {}).get(dest_name)
    wanted = req.query.get("ifGenerationMatch")
    if wanted is not None:
        have = current["generation"] if current else 0
        if int(wanted) != have:
            raise ApiError(
                412,
                "At least one of the pre-conditions you specified did not hold.",
                reason="conditionNotMet",
            )
    body = req.body or {}
    obj = _put(
        state,
        dest_bucket,
        dest_name,
        base64.b64decode(source["data"]),
        body.get("contentType") or source["contentType"],
        req.now,
        cache_control=body.get("cacheControl", ""),
        metadata=body.get("metadata") if "metadata" in body else source["metadata"],
    )
    state.save()
    size = str(obj["size"])
    return 200, {
        "kind": "storage#rewriteResponse",
        "totalBytesRewritten": size,
        "objectSize": size,
        "done": True,
        "resource": render_object(obj),
    }


# --- the CDN and its invalidation ---------------------------------------------------------


def serve_site(state, req, m):
    """The site's public URL: Cloud CDN's cached copy, else the bucket's object."""
    bucket = m["bucket"]
    if bucket not in state.data["sites"]:
        raise not_found(f"No site is served from bucket {bucket}")
    path = "/" + unquote(m.get("path") or "")
    name = (path.lstrip("/") or "index.html") if not path.endswith("/") else "index.html"
    cache = state.data["cdn"].setdefault(bucket, {})
    hit = cache.get(path)
    if hit is None:
        obj = state.data["buckets"].get(bucket, {}).get(name)
        if obj is None:
            return 404, Raw(b"Not Found\n", "text/plain")
        hit = {"data": obj["data"], "type": obj["contentType"], "cache": obj["cacheControl"]}
        cache[path] = hit
        state.save()
        status = "MISS"
    else:
        status = "HIT"
    headers = {"Cache-Control": hit["cache"], "X-Cache": status}
    return 200, Raw(base64.b64decode(hit["data"]), hit["type"], headers)


def settle(state, now: float) -> None:
    for op in state.data["global_ops"].values():
        if op["status"] != "DONE" and op["done_at"] <= now:
            op["status"] = "DONE"
            op["progress"] = 100
            for bucket, site in state.data["sites"].items():
                if faults.site_fault(state, bucket).get("stale"):
                    continue  # a CDN that ignores invalidations
                if site["project"] == op["project"] and site["url_map"] == op["url_map"]:
                    cache = state.data["cdn"].get(bucket, {})
                    for path in [p for p in cache if _matches(op["path"], p)]:
                        del cache[path]


def _matches(pattern: str, path: str) -> bool:
    return path.startswith(pattern[:-1]) if pattern.endswith("*") else path == pattern


def invalidate_cache(state, req, m):
    project, url_map = m["project"], m["url_map"]
    if not any(
        s["project"] == project and s["url_map"] == url_map for s in state.data["sites"].values()
    ):
        raise not_found(f"The resource 'projects/{project}/global/urlMaps/{url_map}'")
    path = (req.body or {}).get("path", "")
    if not path.startswith("/"):
        raise ApiError(400, "Invalid value for field 'resource.path': a path starts with '/'.")
    request_id = req.query.get("requestId", "")
    key = state.data["request_ids"].get(request_id) if request_id else None
    if key and key in state.data["global_ops"]:
        return 200, render_global_operation(state.data["global_ops"][key])
    name = f"operation-{int(req.now * 1000)}-{det.digest('inv', url_map, path, req.now)[:12]}"
    delay = max(
        [state.options.ready_delay]
        + [
            float(faults.site_fault(state, b).get("invalidation_delay", 0))
            for b, s in state.data["sites"].items()
            if s["project"] == project and s["url_map"] == url_map
        ]
    )
    op = {
        "id": det.numeric_id("gop", name),
        "name": name,
        "project": project,
        "url_map": url_map,
        "path": path,
        "status": "RUNNING",
        "progress": 0,
        "insertTime": det.rfc3339(req.now),
        "done_at": req.now + delay,
    }
    state.data["global_ops"][f"{project}/{name}"] = op
    if request_id:
        state.data["request_ids"][request_id] = f"{project}/{name}"
    state.save()
    return 200, render_global_operation(op)


def render_global_operation(op: dict) -> dict:
    p = op["project"]
    out = {
        "kind": "compute#operation",
        "id": op["id"],
        "name": op["name"],
        "operationType": "invalidateCache",
        "targetLink": f"{API}/projects/{p}/global/urlMaps/{op['url_map']}",
        "status": op["status"],
        "progress": op["progress"],
        "insertTime": op["insertTime"],
        "selfLink": f"{API}/projects/{p}/global/operations/{op['name']}",
    }
    if op["status"] == "DONE":
        out["endTime"] = det.rfc3339(op["done_at"])
    return out


def _find_global_op(state, m) -> dict:
    op = state.data["global_ops"].get(f"{m['project']}/{m['op']}")
    if op is None:
        raise not_found(f"The resource 'projects/{m['project']}/global/operations/{m['op']}'")
    return op


def get_global_operation(state, req, m):
    return 200, render_global_operation(_find_global_op(state, m))


def wait_global_operation(state, req, m):
    find = lambda: _find_global_op(state, m)  # noqa: E731 - a one-line lookup
    return compute.wait_until_done(state, find, render_global_operation)


ROUTES = [
    ("GET", BUCKET + r"/o", list_objects),
    ("GET", OBJECT, get_object),
    ("GET", r"/download" + OBJECT, download_object),
    (
        "POST",
        OBJECT + r"/rewriteTo/b/(?P<dest_bucket>[^/]+)/o/(?P<dest_object>[^/]+)",
        rewrite_object,
    ),
    ("POST", GLOBAL + r"/urlMaps/(?P<url_map>[^/]+)/invalidateCache", invalidate_cache),
    ("GET", GLOBAL + r"/operations/(?P<op>[^/]+)", get_global_operation),
    ("POST", GLOBAL + r"/operations/(?P<op>[^/]+)/wait", wait_global_operation, "unlocked"),
    ("GET", r"/sandbox/v1/sites/(?P<bucket>[^/]+)/?(?P<path>.*)", serve_site),
]
