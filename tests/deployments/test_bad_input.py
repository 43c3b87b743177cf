"""Bad input to releases, rollouts and the API: a 400 with a sentence (JSON
`{"message": ...}` on the API, the form's error on a page), never a server error, and
nothing changes."""

import json

import pytest

from deployments import services
from deployments.errors import DeploymentError
from deployments.models import Release, Rollout, RolloutState
from deployments.tokens import create_token
from platform_admin.models import AuditEvent
from tests.deployments.conftest import image

S = RolloutState
SERVICES = "api-server, realtime, agent, livekit, frontend"
DIGEST = "@sha256:" + "a" * 64


@pytest.fixture
def api(client, alice):
    """Call the API as alice (or `token=` another user's); `raw=` sends bytes as they are."""
    tokens = {}

    def call(method, path, body=None, *, raw=None, user=alice, **extra):
        if user not in tokens:
            tokens[user] = create_token(user, "ci")
        extra["HTTP_AUTHORIZATION"] = f"Bearer {tokens[user]}"
        if body is not None or raw is not None:
            extra["data"] = raw if raw is not None else json.dumps(body)
            extra.setdefault("content_type", "application/json")
        return getattr(client, method)(f"/api/v1{path}", **extra)

    return call


def _message(response, status: int) -> str:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    return response.json()["message"]


def _release(version="1.5.0", notes="", artifacts=None) -> dict:
    return {
        "version": version,
        "notes": notes,
        "artifacts": artifacts or {"api-server": image("api-server")},
    }


def _image_of_length(length: int) -> str:
    prefix = "us-docker.pkg.dev/acme/app/"
    return prefix + "a" * (length - len(prefix) - len(DIGEST)) + DIGEST


@pytest.fixture
def waiting(waiting_in_production):
    return waiting_in_production


# --- NUL and lone surrogates ---------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        _release(notes="a\x00b"),
        _release(version="1.5.0\x00"),
        _release(artifacts={"api-server\x00": image("api-server")}),
        _release(artifacts={"api-server": image("api-server") + "\x00"}),
        _release(notes="\ud800"),
        _release(notes="\udfff tail"),
    ],
)
def test_a_nul_or_lone_surrogate_in_a_release_is_a_400_and_nothing_is_stored(api, body):
    assert "contains a NUL character or an unpaired surrogate" in _message(
        api("post", "/releases", body), 400
    )
    assert not Release.objects.exists()


def test_a_lone_surrogate_as_raw_bytes_in_the_body_is_a_400(api):
    raw = b'{"version": "1.5.0", "notes": "\xed\xa0\x80", "artifacts": {}}'
    assert "unpaired surrogate" in _message(api("post", "/releases", raw=raw), 400)


def test_a_nul_in_a_json_body_sent_as_text_plain_is_refused_too(api):
    raw = json.dumps(_release(notes="a\x00"))
    response = api("post", "/releases", raw=raw, content_type="text/plain")
    assert "NUL" in _message(response, 400) and not Release.objects.exists()


def test_a_nul_in_the_api_path_or_query_string_is_a_400_json(api):
    assert "The address contains" in _message(api("get", "/rollouts/1%00"), 400)
    assert "The query string contains" in _message(api("get", "/rollouts/1?x=%00"), 400)
    patch = api("patch", "/releases/%00", {"notes": "n"})
    assert "The address contains" in _message(patch, 400)


@pytest.mark.parametrize("action", ["reject", "abort"])
def test_a_nul_in_a_reason_is_refused_on_the_api_and_the_page(api, client, bob, waiting, action):
    response = api("post", f"/rollouts/{waiting.pk}/{action}", {"reason": "no\x00"}, user=bob)
    assert "NUL" in _message(response, 400)
    client.force_login(bob)
    page = client.post(f"/deployments/rollouts/{waiting.pk}/{action}/", {"reason": "no\x00"})
    assert page.status_code == 400 and "A form field contains" in page.content.decode()
    waiting.refresh_from_db()
    assert waiting.state == S.PENDING_APPROVAL


# --- lengths -------------------------------------------------------------------------


def test_a_version_over_64_characters_is_refused_and_64_is_accepted(api):
    long = "1.0.0-" + "a" * 59
    assert "version: String should have at most 64 characters" in _message(
        api("post", "/releases", _release(version=long)), 400
    )
    assert api("post", "/releases", _release(version=long[:-1])).status_code == 201
    assert list(Release.objects.values_list("version", flat=True)) == [long[:-1]]


def test_the_service_layer_refuses_a_65_character_version_with_a_sentence(alice):
    with pytest.raises(DeploymentError, match=r"A version has at most 64 characters \(this one"):
        services.create_release(alice, "1.0.0-" + "a" * 59, {"api-server": image("api-server")})


def test_an_image_over_300_characters_is_refused_and_300_is_accepted(api, alice):
    too_long = _release(artifacts={"api-server": _image_of_length(301)})
    assert "at most 300 characters" in _message(api("post", "/releases", too_long), 400)
    with pytest.raises(DeploymentError, match="An image reference has at most 300 characters"):
        services.create_release(alice, "1.5.1", {"api-server": _image_of_length(301)})
    fits = _release(artifacts={"api-server": _image_of_length(300)})
    assert api("post", "/releases", fits).status_code == 201


def test_a_service_name_over_63_characters_is_refused(api, alice):
    body = _release(artifacts={"a" * 64: image("api-server")})
    assert "at most 63 characters" in _message(api("post", "/releases", body), 400)
    with pytest.raises(DeploymentError, match="is not a deployable service"):
        services.create_release(alice, "1.5.0", {"a" * 64: image("api-server")})


def test_notes_over_10000_characters_are_refused_and_10000_are_accepted(api):
    response = api("post", "/releases", _release(notes="n" * 10_001))
    assert "notes: String should have at most 10000 characters" in _message(response, 400)
    created = api("post", "/releases", _release(notes="n" * 10_000))
    assert created.status_code == 201
    patched = api("patch", "/releases/1.5.0", {"notes": "n" * 10_001})
    assert "at most 10000 characters" in _message(patched, 400)
    assert Release.objects.get().notes == "n" * 10_000


def test_a_megabyte_of_notes_is_refused_by_the_service_layer(alice):
    with pytest.raises(DeploymentError, match=r"Notes may be at most 10,000 characters"):
        services.create_release(alice, "1.5.0", {"api-server": image("api-server")}, "n" * 10**6)
    assert not Release.objects.exists()


def test_the_release_form_names_each_length_that_is_too_long(client, alice):
    client.force_login(alice)
    response = client.post(
        "/deployments/releases/new/",
        {
            "version": "1.0.0-" + "a" * 59,
            "notes": "n" * 10_001,
            "image_api-server": _image_of_length(301),
        },
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert "A version has at most 64 characters (this one has 65)." in page
    assert "Notes may be at most 10,000 characters (got 10,001)." in page
    assert "An image reference has at most 300 characters (this one has 301)." in page
    assert not Release.objects.exists()


def test_the_release_form_refuses_a_lone_surrogate_in_notes(alice):
    from deployments.forms import ReleaseForm

    form = ReleaseForm({"version": "1.5.0", "notes": "x\ud800", "image_agent": image("agent")})
    assert not form.is_valid()
    assert "unpaired surrogate" in form.errors["notes"][0]


@pytest.mark.parametrize("action, who", [("reject", "bob"), ("abort", "alice")])
def test_a_reason_over_1000_characters_is_refused_and_1000_is_accepted(
    api, alice, bob, waiting, action, who
):
    user = {"alice": alice, "bob": bob}[who]
    path = f"/rollouts/{waiting.pk}/{action}"
    too_long = api("post", path, {"reason": "r" * 1001}, user=user)
    assert _message(too_long, 400) == "The reason may be at most 1,000 characters (got 1,001)."
    waiting.refresh_from_db()
    assert waiting.state == S.PENDING_APPROVAL
    fits = api("post", path, {"reason": "r" * 1000}, user=user)
    assert fits.status_code == 200, fits.content
    waiting.refresh_from_db()
    assert waiting.message.endswith("r" * 1000)


@pytest.mark.parametrize(
    "body, sentence",
    [
        ({"reason": 5}, "The reason must be text."),
        ({"reason": None}, "The reason must be text."),
        ({"reason": ["why"]}, "The reason must be text."),
        ({"release": {"v": 1}}, "release must be text."),
        ({"emergency": "yes", "reason": "down"}, "emergency must be true or false."),
        ({"release": "1" * 65}, "release may be at most 64 characters (got 65)."),
    ],
)
def test_the_optional_bodies_refuse_wrong_types_with_a_sentence(api, waiting, body, sentence):
    assert _message(api("post", "/environments/production/rollback", body), 400) == sentence
    assert Rollout.objects.count() == 1


# --- look-alike versions and artifact services -----------------------------------------


@pytest.mark.parametrize("version", ["1.5.0\n", "1.5.0\r\n", " 1.5.0", "1.5.0 ", "v1.5.0"])
def test_a_look_alike_version_is_refused_beside_the_real_one(api, alice, version):
    assert api("post", "/releases", _release()).status_code == 201
    assert "is not a semantic version" in _message(
        api("post", "/releases", _release(version=version)), 400
    )
    with pytest.raises(DeploymentError, match="is not a semantic version"):
        services.create_release(alice, version, {"api-server": image("api-server")})
    assert list(Release.objects.values_list("version", flat=True)) == ["1.5.0"]


def test_an_image_with_a_trailing_newline_is_not_pinned_by_digest(alice):
    with pytest.raises(DeploymentError, match="is not pinned by digest"):
        services.create_release(alice, "1.5.0", {"api-server": image("api-server") + "\n"})


@pytest.mark.parametrize("name", ["", "../../etc", "api-server\n", "API-SERVER", "postgres"])
def test_an_artifact_must_name_a_deployable_service_of_the_platform(api, name):
    body = _release(artifacts={name: image("api-server")})
    message = _message(api("post", "/releases", body), 400)
    assert f"{name!r} is not a deployable service of the platform; use {SERVICES}." in message
    assert not Release.objects.exists()


def test_a_release_carries_at_most_one_artifact_per_deployable_service(api):
    artifacts = {f"svc-{n}": image("api-server") for n in range(1000)}
    message = _message(api("post", "/releases", _release(artifacts=artifacts)), 400)
    assert message == (
        f"artifacts: a release carries at most 5 services, one per deployable service "
        f"({SERVICES}); got 1000."
    )
    every_service = {name: image(name) for name in SERVICES.split(", ")}
    every_service["frontend"] = "gs://acme-builds/frontend/builds/1.0.0/"  # a site's build
    assert api("post", "/releases", _release(artifacts=every_service)).status_code == 201


def test_correcting_a_release_checks_its_services_too_and_keeps_the_old_ones(api):
    api("post", "/releases", _release())
    patched = api("patch", "/releases/1.5.0", {"artifacts": {"../../etc": image("agent")}})
    assert "is not a deployable service" in _message(patched, 400)
    assert Release.objects.get().images() == {"api-server": image("api-server")}
    assert not AuditEvent.objects.filter(action="release.updated").exists()


# --- the API's error shape -------------------------------------------------------------


@pytest.mark.parametrize("raw", ["{bad", '{"version": ', "[1, 2", "\x7f", '{"version": "1.5.0",}'])
def test_unparsable_json_is_a_400_message_not_detail(api, raw):
    response = api("post", "/releases", raw=raw)
    assert _message(response, 400) == "The request body is not valid JSON."
    assert "detail" not in response.json()


def test_a_missing_or_non_object_body_is_a_400_message(api):
    assert (
        _message(api("post", "/releases", raw=""), 400) == "Invalid request: body: Field required"
    )
    assert _message(api("post", "/releases"), 400) == "The request body is not valid JSON."
    assert "Invalid request" in _message(api("post", "/releases", [1, 2]), 400)


def test_json_nested_too_deeply_is_a_400(api):
    raw = "[" * 100_000 + "]" * 100_000
    assert _message(api("post", "/releases", raw=raw), 400) == "The JSON body is nested too deeply."


@pytest.mark.parametrize(
    "method, path",
    [
        ("post", "/rollouts/1/frobnicate"),
        ("get", "/rollouts/1/frobnicate"),
        ("post", "/rollouts//approve"),
        ("get", "/nope"),
        ("get", "/"),
        ("put", "/releases/1.5.0/extra"),
        ("delete", "/environments/staging/rollback/now"),
    ],
)
def test_every_unknown_api_path_is_a_json_404_naming_it(api, client, method, path):
    message = _message(api(method, path), 404)
    assert message == f"No such API endpoint: {method.upper()} /api/v1{path}"
    without_token = getattr(client, method)(f"/api/v1{path}")
    assert "Bearer" in _message(without_token, 401)  # no token: nothing is told


@pytest.mark.parametrize(
    "method, path, allowed",
    [
        ("delete", "/releases", "POST"),
        ("get", "/releases", "POST"),
        ("get", "/rollouts/1/approve", "POST"),
        ("put", "/rollouts/1", "GET"),
        ("get", "/releases/1.5.0", "PATCH"),
    ],
)
def test_a_wrong_method_is_a_json_405_saying_which_is_allowed(api, method, path, allowed):
    response = api(method, path)
    message = _message(response, 405)
    assert message == f"{method.upper()} is not allowed on /api/v1{path}; use {allowed}."
    assert response["Allow"] == allowed


def test_a_body_over_the_upload_limit_is_a_400_json_naming_the_limit(api):
    body = _release(notes="x" * 3_000_000)
    response = api("post", "/releases", body)
    assert _message(response, 400) == "The request body is larger than 2.5 MB."
    assert not Release.objects.exists()


def test_a_path_parameter_of_the_wrong_type_is_a_400_message(api):
    assert "rollout_id" in _message(api("get", "/rollouts/abc"), 400)
    assert _message(api("get", "/rollouts/99999999999999999999"), 404)


def test_a_reason_over_the_limit_from_the_browser_is_refused_and_changes_nothing(
    client, alice, staging, make_release
):
    from deployments import services as rollout_services

    rollout = rollout_services.start_rollout(alice, make_release("9.9.0"), staging, "canary")
    client.force_login(alice)

    client.post(f"/deployments/rollouts/{rollout.pk}/abort/", {"reason": "x" * 100_000})

    rollout.refresh_from_db()
    assert rollout.state == "queued" and not rollout.message
    page = client.get(f"/deployments/rollouts/{rollout.pk}/").content.decode()
    assert "at most 1,000 characters" in page


@pytest.mark.parametrize(
    "given",
    [
        image("frontend"),  # an image where a build belongs
        "gs://acme-builds/frontend/builds/1.0.0",  # a prefix ends in /
        "gs://UPPER/builds/1.0.0/",
        "https://storage.googleapis.com/acme-builds/frontend/",
    ],
)
def test_a_static_site_artifact_must_be_a_build_prefix(api, given):
    message = _message(api("post", "/releases", _release(artifacts={"frontend": given})), 400)
    assert message.startswith("artifacts.frontend: ") and "is not a build" in message
    assert "gs://BUCKET/frontend/builds/1.5.0/" in message
    assert not Release.objects.exists()


def test_a_cloud_run_artifact_must_not_be_a_build(api):
    body = _release(artifacts={"api-server": "gs://acme-builds/frontend/builds/1.0.0/"})
    message = _message(api("post", "/releases", body), 400)
    assert "artifacts.api-server: " in message and "is not pinned by digest" in message
