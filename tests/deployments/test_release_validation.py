import pytest
from django.core.exceptions import ValidationError

from deployments.models import Release, ReleaseArtifact
from deployments.validators import semver_key

DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    "version", ["1.4.0", "2.0.0-rc.1", "0.0.1", "1.0.0+build.5", "10.20.30-alpha.beta"]
)
def test_semantic_versions_are_accepted(version):
    Release(version=version).clean_fields(exclude=["created_by"])


@pytest.mark.parametrize("version", ["1.4", "v1.4.0", "1.4.0.1", "01.4.0", "1.4.0-", "latest"])
def test_other_versions_are_refused_with_an_example(version):
    with pytest.raises(ValidationError, match="not a semantic version .expected e.g. 1.4.0"):
        Release(version=version).clean_fields(exclude=["created_by"])


@pytest.mark.parametrize(
    "image",
    [
        f"us-docker.pkg.dev/acme/app/api@{DIGEST}",
        f"us-docker.pkg.dev/acme/app/api:1.5.0-faulty@{DIGEST}",
        f"localhost:5000/api@{DIGEST}",
    ],
)
@pytest.mark.django_db
def test_images_pinned_by_digest_are_accepted(image):
    ReleaseArtifact(service_name="api-server", image=image).full_clean(exclude=["release"])


@pytest.mark.parametrize(
    "image",
    [
        "us-docker.pkg.dev/acme/app/api:1.5.0",
        "us-docker.pkg.dev/acme/app/api@sha256:abc",
        f"api@{DIGEST}",
        f"us-docker.pkg.dev/acme/app/api@sha256:{'A' * 64}",
    ],
)
@pytest.mark.django_db
def test_images_not_pinned_by_digest_are_refused(image):
    with pytest.raises(ValidationError, match="not pinned by digest"):
        ReleaseArtifact(service_name="api-server", image=image).full_clean(exclude=["release"])


def test_a_static_sites_artifact_is_its_builds_prefix(platform):
    build = ReleaseArtifact(service_name="frontend", image="gs://acme-builds/fe/builds/1.5.0/")
    build.full_clean(exclude=["release"])
    with pytest.raises(ValidationError, match="is not a build"):
        ReleaseArtifact(service_name="frontend", image=f"reg/fe@{DIGEST}").full_clean(
            exclude=["release"]
        )


def test_versions_sort_semantically():
    versions = ["1.10.0", "1.2.0", "1.2.0-rc.2", "1.2.0-rc.10", "1.2.0-alpha"]
    assert sorted(versions, key=semver_key) == [
        "1.2.0-alpha",
        "1.2.0-rc.2",
        "1.2.0-rc.10",
        "1.2.0",
        "1.10.0",
    ]
