"""Cloud Storage for static sites: list a build, read its manifest, copy objects server-side
(`rewrite`, no bytes through the worker), and read the site's public URL.

Copies carry a generation precondition (`if_generation_match`: 0 = the object must not
exist yet), so a retried or repeated copy never overwrites a newer object unseen.
"""

from dataclasses import dataclass, field

import requests
from django.conf import settings

from platform_admin import gcp
from platform_admin.gcp_compute import link_local_target

MAX_PAGE_BYTES = 1_000_000  # an entry point larger than this is not a page we compare


@dataclass(frozen=True)
class ObjectState:
    name: str
    generation: int
    md5: str  # base64, as Cloud Storage reports it
    crc32c: str
    size: int
    content_type: str
    cache_control: str
    metadata: dict[str, str] = field(default_factory=dict)


def _state(blob, prefix: str = "") -> ObjectState:
    return ObjectState(
        name=blob.name[len(prefix) :],
        generation=int(blob.generation or 0),
        md5=blob.md5_hash or "",
        crc32c=blob.crc32c or "",
        size=int(blob.size or 0),
        content_type=blob.content_type or "",
        cache_control=blob.cache_control or "",
        metadata=dict(blob.metadata or {}),
    )


def list_objects(project: str, bucket: str, prefix: str = "") -> dict[str, ObjectState]:
    """Every object under `prefix`, by its name relative to the prefix."""
    with gcp.translate(f"listing objects of bucket {bucket}", project, api="storage"):
        blobs = gcp.storage_client(project).list_blobs(
            bucket, prefix=prefix or None, timeout=gcp.timeout(), retry=gcp.retry_policy()
        )
        return {s.name: s for s in (_state(b, prefix) for b in blobs)}


def read_object(project: str, bucket: str, name: str) -> bytes:
    with gcp.translate(f"reading object gs://{bucket}/{name}", project, api="storage"):
        blob = gcp.storage_client(project).bucket(bucket).blob(name)
        return blob.download_as_bytes(timeout=gcp.timeout(), retry=gcp.retry_policy())


def copy_object(
    project: str,
    source_bucket: str,
    source_name: str,
    bucket: str,
    name: str,
    *,
    if_generation_match: int,
    content_type: str,
    cache_control: str,
    metadata: dict[str, str],
) -> ObjectState:
    """Copy gs://source_bucket/source_name to gs://bucket/name with these headers, in
    Cloud Storage (a rewrite, repeated until done for a large object)."""
    what = f"copying gs://{source_bucket}/{source_name} to gs://{bucket}/{name}"
    with gcp.translate(what, project, api="storage"):
        client = gcp.storage_client(project)
        source = client.bucket(source_bucket).blob(source_name)
        target = client.bucket(bucket).blob(name)
        target.content_type = content_type
        target.cache_control = cache_control
        target.metadata = metadata
        token = None
        while True:
            token, _, _ = target.rewrite(
                source,
                token=token,
                if_generation_match=if_generation_match,
                timeout=gcp.timeout(),
                retry=gcp.retry_policy(),  # safe: the precondition makes it idempotent
            )
            if token is None:
                return _state(target)


def public_url(bucket: str, configured_url: str) -> str:
    """Where the site answers: the sandbox's stand-in, or the configured URL."""
    endpoint = settings.GCP_API_ENDPOINT
    if endpoint:
        return f"{endpoint.rstrip('/')}/sandbox/v1/sites/{bucket}/"
    return configured_url


def fetch_page(url: str, timeout: float = 5.0) -> tuple[int, bytes, str]:
    """GET `url` as a visitor would (no redirect followed, never a link-local address):
    (status, body, detail). Status 0 when it could not be reached."""
    refused = link_local_target(url)
    if refused:
        return 0, b"", refused
    try:
        response = requests.get(url, timeout=timeout, allow_redirects=False, stream=True)
        body = response.raw.read(MAX_PAGE_BYTES, decode_content=True)
    except requests.RequestException as exc:
        return 0, b"", f"{url} unreachable: {type(exc).__name__}"
    return response.status_code, body, f"{url} answered {response.status_code}"
