"""sync_platform refuses a wrong file whole: no coercion, no rounding, no traceback.

Each cause is refused with "refused, nothing changed", the key path and the line, and
its harmless neighbours still pass.
"""

from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from platform_admin.models import AuditEvent, Environment, Service
from tests.conftest import EXAMPLE_PLATFORM

pytestmark = pytest.mark.django_db

EXAMPLE = EXAMPLE_PLATFORM.read_text()
LIVEKIT_URL = 'health_url = "https://livekit.staging.example.com/"'


def sync(path) -> str:
    out = StringIO()
    call_command("sync_platform", str(path), stdout=out)
    return out.getvalue()


def write(tmp_path, text: str | bytes, name="platform.toml"):
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def example_with(old: str, new: str) -> str:
    assert old in EXAMPLE, old
    return EXAMPLE.replace(old, new, 1)


def line_of(text: str, fragment: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if fragment in line)


def refusal(tmp_path, text) -> str:
    """Sync `text`; return the refusal message (it must be one, not a traceback)."""
    with pytest.raises(CommandError) as excinfo:
        sync(write(tmp_path, text))
    message = str(excinfo.value)
    assert message.startswith("refused, nothing changed: ")
    return message


def assert_refused(tmp_path, old, new, key, *words):
    """`old` → `new` in the example is refused naming `key`, the line of `new`, `words`."""
    text = example_with(old, new)
    message = refusal(tmp_path, text)
    assert f"platform.toml:{line_of(text, new.splitlines()[0])}: {key}: " in message
    for word in words:
        assert word in message
    return message


def assert_accepted(tmp_path, old, new):
    sync(write(tmp_path, example_with(old, new)))


# --- strict types ----------------------------------------------------------------------


@pytest.mark.parametrize("written", ['"no"', '"false"', "0", "1"])
def test_requires_approval_must_be_a_boolean_not_a_string_or_number(tmp_path, written):
    message = assert_refused(
        tmp_path,
        "requires_approval = false",
        f"requires_approval = {written}",
        "environments[0].requires_approval",
        "must be true or false",
    )
    assert not Environment.objects.exists()
    assert written.strip('"') in message


def test_requires_approval_true_and_false_are_accepted(tmp_path):
    assert_accepted(tmp_path, "requires_approval = false", "requires_approval = true")
    assert Environment.objects.get(slug="staging").requires_approval is True


@pytest.mark.parametrize(
    ("written", "says"),
    [('"300"', 'not the string "300"'), ("true", "not true"), ("[300]", "not an array")],
)
def test_monthly_target_must_be_a_number(tmp_path, written, says):
    assert_refused(
        tmp_path,
        "monthly_target = 300 ",
        f"monthly_target = {written} ",
        "environments[0].monthly_target",
        "must be a number",
        says,
    )


@pytest.mark.parametrize(("written", "stored"), [("300", "300.00"), ("299.99", "299.99")])
def test_monthly_target_takes_an_integer_or_a_float(tmp_path, written, stored):
    assert_accepted(tmp_path, "monthly_target = 300 ", f"monthly_target = {written} ")
    assert str(Environment.objects.get(slug="staging").monthly_target) == stored


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ("bake_seconds = 120", "bake_seconds = 120.0", "environments[0].canary.bake_seconds"),
        ("bake_seconds = 120", "bake_seconds = true", "environments[0].canary.bake_seconds"),
        ("min_requests = 100", 'min_requests = "100"', "environments[0].canary.min_requests"),
        ("p95_ms = 500", "p95_ms = 500.5", "environments[0].slo.p95_ms"),
        (
            "steps = [5, 25, 50, 100]",
            "steps = [5, 25, 50, 100.0]",
            "environments[0].canary.steps[3]",
        ),
        ("concurrency = 80", "concurrency = false", "environments[0].services[0].concurrency"),
    ],
)
def test_a_whole_number_must_be_written_as_one(tmp_path, old, new, key):
    assert_refused(tmp_path, old, new, key, "must be a whole number")


@pytest.mark.parametrize(
    ("old", "new", "key", "says"),
    [
        ("cpu = 1\n", 'cpu = "1"\n', "environments[0].services[0].cpu", "must be a number"),
        ("disk_gb = 50", "disk_gb = true", "environments[0].services[3].disk_gb", "not true"),
        (
            "high_availability = false",
            'high_availability = "false"',
            "environments[1].services[4].high_availability",
            "must be true or false",
        ),
        ('zone = "us-central1-a"', "zone = 1", "environments[0].services[3].zone", "a string"),
    ],
)
def test_service_values_are_not_coerced_either(tmp_path, old, new, key, says):
    assert_refused(tmp_path, old, new, key, says)


def test_service_sizes_take_floats_exactly_as_written(tmp_path):
    assert_accepted(tmp_path, "cpu = 1\n", "cpu = 0.5\n")
    service = Service.objects.get(environment__slug="staging", name="api-server")
    assert service.spec["cpu"] == "0.5"


# --- decimals against their columns ----------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "key", "places"),
    [
        (
            "max_error_rate = 0.005",
            "max_error_rate = 0.0000001",
            "environments[0].canary.max_error_rate",
            "at most 5 decimal places",
        ),
        (
            "max_error_rate = 0.005",
            "max_error_rate = 0.000015",
            "environments[0].canary.max_error_rate",
            "at most 5 decimal places",
        ),
        ("uptime = 0.95", "uptime = 0.999999", "environments[0].slo.uptime", "at most 5 decimal"),
        (
            "monthly_target = 300 ",
            "monthly_target = 300.001 ",
            "environments[0].monthly_target",
            "at most 2 decimal places",
        ),
        ("cpu = 1\n", "cpu = 0.0000001\n", "environments[0].services[0].cpu", "at most 6"),
    ],
)
def test_more_decimal_places_than_the_column_keeps_are_refused_not_rounded(
    tmp_path, old, new, key, places
):
    assert_refused(tmp_path, old, new, key, "too many decimal places", places)


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ("monthly_target = 300 ", "monthly_target = 1e20 ", "environments[0].monthly_target"),
        (
            "monthly_target = 300 ",
            "monthly_target = 10000000000 ",
            "environments[0].monthly_target",
        ),
        ("cpu = 1\n", "cpu = 1e30\n", "environments[0].services[0].cpu"),
    ],
)
def test_numbers_beyond_the_column_are_refused(tmp_path, old, new, key):
    assert_refused(tmp_path, old, new, key, "too large", "digits before the decimal point")


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ("bake_seconds = 120", "bake_seconds = 9223372036854775808", "environments[0].canary"),
        ("min_requests = 100", "min_requests = 2147483648", "environments[0].canary"),
        ("p95_ms = 500", "p95_ms = 2147483648", "environments[0].slo"),
        ("max_instances = 5\n", "max_instances = 2147483648\n", "environments[0].services[0]"),
    ],
)
def test_integers_beyond_the_column_are_refused(tmp_path, old, new, key):
    field = new.split(" =")[0]
    assert_refused(tmp_path, old, new, f"{key}.{field}", "less than or equal to")


def test_a_number_too_long_to_read_is_refused_with_its_line(tmp_path):
    text = example_with("min_requests = 100", "min_requests = " + "9" * 5000)

    message = refusal(tmp_path, text)

    assert f"platform.toml:{line_of(text, 'min_requests = 999')}: " in message
    assert "not valid TOML: a number is too long" in message


@pytest.mark.parametrize("written", ["nan", "inf"])
def test_a_number_that_is_not_finite_is_refused(tmp_path, written):
    assert_refused(
        tmp_path, "uptime = 0.95", f"uptime = {written}", "environments[0].slo.uptime", "finite"
    )


def test_the_finest_and_largest_values_the_columns_hold_are_kept_exactly(tmp_path):
    text = example_with("max_error_rate = 0.005", "max_error_rate = 0.00001")
    text = text.replace("monthly_target = 300 ", "monthly_target = 9999999999.99 ", 1)
    text = text.replace("uptime = 0.95", "uptime = 0.99999", 1)
    path = write(tmp_path, text)
    sync(path)
    events = AuditEvent.objects.count()

    output = sync(path)

    staging = Environment.objects.get(slug="staging")
    assert str(staging.max_error_rate) == "0.00001"
    assert str(staging.monthly_target) == "9999999999.99"
    assert str(staging.slo_uptime) == "0.99999"
    assert "0 created, 0 updated" in output
    assert AuditEvent.objects.count() == events


def test_trailing_zeros_are_not_extra_decimal_places(tmp_path):
    assert_accepted(tmp_path, "max_error_rate = 0.005", "max_error_rate = 0.0050000000")
    assert str(Environment.objects.get(slug="staging").max_error_rate) == "0.00500"


# --- promotion cycles ------------------------------------------------------------------


def test_a_promotion_cycle_is_refused_naming_it(tmp_path):
    assert_refused(
        tmp_path,
        'promote_from = ""',
        'promote_from = "production"',
        "environments[0].promote_from",
        "promotion cycle: staging → production → staging",
    )
    assert not Environment.objects.exists()


def test_a_longer_promotion_cycle_is_named_whole(tmp_path):
    qa = EXAMPLE.split("# ---------------------------------------------------------------- staging")
    qa_env = (
        '\n[[environments]]\nslug = "qa"\nname = "QA"\ngcp_project = "acme-qa1"\n'
        'region = "us-central1"\nmonthly_target = 50\npromote_from = "production"\n'
    )
    text = qa[0] + qa[1].replace('promote_from = ""', 'promote_from = "qa"', 1) + qa_env

    line = line_of(text, 'promote_from = "qa"')

    message = refusal(tmp_path, text)

    assert "promotion cycle: staging → qa → production → staging" in message
    assert f"platform.toml:{line}: environments[0].promote_from:" in message


def test_a_promotion_chain_without_a_cycle_is_accepted(tmp_path):
    qa_env = (
        '\n[[environments]]\nslug = "qa"\nname = "QA"\ngcp_project = "acme-qa1"\n'
        'region = "us-central1"\nmonthly_target = 50\npromote_from = "production"\n'
    )
    sync(write(tmp_path, EXAMPLE + qa_env))
    assert Environment.objects.get(slug="qa").promote_from.slug == "production"


# --- strings ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "key", "says"),
    [
        ('name = "Staging"', f'name = "{"S" * 81}"', "environments[0].name", "at most 80"),
        (
            'gcp_project = "acme-staging"',
            f'gcp_project = "acme-{"s" * 30}"',
            "environments[0].gcp_project",
            "should match pattern",
        ),
        (
            'zone = "us-central1-a"',
            f'zone = "us-central1-{"a" * 30}"',
            "environments[0].services[3].zone",
            "at most 40",
        ),
        (
            LIVEKIT_URL,
            f'health_url = "https://{"l" * 200}.example.com/"',
            "environments[0].services[3].health_url",
            "at most 200",
        ),
        (
            'cost_labels = { env = "staging" }',
            f'cost_labels = {{ env = "{"s" * 64}" }}',
            "environments[0].cost_labels.env",
            "at most 63",
        ),
        (
            'cost_labels = { env = "staging" }',
            f'cost_labels = {{ {"e" * 64} = "staging" }}',
            f"environments[0].cost_labels.{'e' * 64} (the key)",
            "at most 63",
        ),
        (
            'slack_webhook_env = "SLACK_WEBHOOK_STAGING"',
            f'slack_webhook_env = "SLACK_{"W" * 60}"',
            "environments[0].slack_webhook_env",
            "at most 64",
        ),
        (
            'region = "us-central1"',
            f'region = "us-{"c" * 40}1"',
            "environments[0].region",
            "at most 40",
        ),
    ],
)
def test_over_long_strings_are_refused(tmp_path, old, new, key, says):
    assert_refused(tmp_path, old, new, key, says)


def test_strings_at_the_column_limits_are_accepted(tmp_path):
    text = example_with('name = "Staging"', f'name = "{"S" * 80}"')
    text = text.replace(
        'cost_labels = { env = "staging" }', f'cost_labels = {{ env = "{"s" * 63}" }}'
    )
    text = text.replace('zone = "us-central1-a"', f'zone = "us-central1-{"a" * 28}"', 1)
    sync(write(tmp_path, text))
    staging = Environment.objects.get(slug="staging")
    assert len(staging.name) == 80 and staging.cost_labels == {"env": "s" * 63}
    assert len(staging.services.get(name="livekit").zone) == 40


@pytest.mark.parametrize(
    ("old", "new", "key", "what"),
    [
        ('name = "Staging"', 'name = "Sta\\u0000ging"', "environments[0].name", "value"),
        (
            'machine_type = "n2-standard-4"',
            'machine_type = "n2\\u0000"',
            "environments[0].services[3].machine_type",
            "value",
        ),
        (
            'cost_labels = { env = "staging" }',
            'cost_labels = { "env\\u0000" = "staging" }',
            'environments[0].cost_labels."env\\u0000"',
            "key",
        ),
        (
            'cost_labels = { env = "staging" }',
            'cost_labels = { env = "stag\\u0000ing" }',
            "environments[0].cost_labels.env",
            "value",
        ),
        ('name = "Staging"', 'name = "Sta\\nging"', "environments[0].name", "value"),
    ],
)
def test_control_characters_in_any_string_or_key_are_refused(tmp_path, old, new, key, what):
    assert_refused(tmp_path, old, new, key, f"the {what} contains a control character")


def test_a_raw_nul_byte_in_the_file_is_refused_with_its_line(tmp_path):
    text = example_with('name = "Staging"', 'name = "Sta\x00ging"')

    line = line_of(text, 'name = "Sta')

    message = refusal(tmp_path, text)

    assert f"platform.toml:{line}: not valid TOML" in message


def test_a_file_that_is_not_utf8_is_refused_with_its_line(tmp_path):
    raw = example_with('name = "Staging"', 'name = "St@ging"').encode().replace(b"@", b"\xe9")

    message = refusal(tmp_path, raw)

    line = raw.split(b"\n").index(b'name = "St\xe9ging"') + 1
    assert f"platform.toml:{line}: not UTF-8 text: byte 0xe9" in message


# --- nesting ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["[" * 10_000 + "]" * 10_000, "{ a = " * 10_000 + "1" + " }" * 10_000],
    ids=["arrays", "inline tables"],
)
def test_deep_nesting_is_refused_not_a_recursion_error(tmp_path, value):
    text = EXAMPLE + f"\ndeep = {value}\n"

    message = refusal(tmp_path, text)

    assert f"platform.toml:{line_of(text, 'deep =')}: nested too deeply" in message


def test_deeply_nested_dotted_keys_are_refused(tmp_path):
    text = EXAMPLE.replace(
        'cost_labels = { env = "staging" }', "cost_labels" + ".a" * 10_000 + ' = "x"', 1
    )

    message = refusal(tmp_path, text)

    assert "environments[0].cost_labels.a.a" in message and "nested too deeply" in message


def test_brackets_inside_strings_and_comments_do_not_count_as_nesting(tmp_path):
    text = example_with('name = "Staging"', f'name = "{"[" * 20}"  # {"{" * 20}')
    sync(write(tmp_path, text))
    assert Environment.objects.get(slug="staging").name == "[" * 20


# --- health URLs -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/",
        "http://169.254.169.254/computeMetadata/v1/",
        "http://169.254.0.1",
        "http://[fe80::1]/",
        "http://[fe80::1%25eth0]/",
        "http://0xa9fea9fe/",
        "http://2852039166/",
        "http://0251.0376.0251.0376/",
        "http://169.254.43518/",
        "http://169.254.169.254./",
        "http://[::ffff:169.254.169.254]/",
    ],
)
def test_a_health_url_to_a_link_local_address_is_refused(tmp_path, url):
    assert_refused(
        tmp_path,
        LIVEKIT_URL,
        f'health_url = "{url}"',
        "environments[0].services[3].health_url",
        "must not point at a link-local address",
    )


@pytest.mark.parametrize(
    "url",
    [
        "http://metadata.google.internal/",
        "http://METADATA.GOOGLE.INTERNAL./computeMetadata/v1/",
        "http://metadata/",
        "https://metadata.goog/",
        "http://[fd20:ce::254]/",
    ],
)
def test_a_health_url_to_the_metadata_server_is_refused(tmp_path, url):
    assert_refused(
        tmp_path,
        LIVEKIT_URL,
        f'health_url = "{url}"',
        "environments[0].services[3].health_url",
        "must not point at the metadata server",
    )


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://user@169.254.169.254/", "user name or password"),
        ("http://169.254.169.254\\\\@example.com/", "spaces or backslashes"),
        ("http://\u24dcetadata.google.internal/", "plain ASCII"),
        ("http://%6detadata.google.internal/", "plain ASCII"),
        ("http://example.com:99999/", "invalid port"),
        ("http:///health", "needs a host"),
        ("ftp://livekit.example.com/", "http(s) URL"),
    ],
)
def test_a_health_url_in_disguise_or_malformed_is_refused(tmp_path, url, says):
    assert_refused(
        tmp_path,
        LIVEKIT_URL,
        f'health_url = "{url}"',
        "environments[0].services[3].health_url",
        says,
    )


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/health",
        "http://localhost:7880/",
        "http://[::1]:7880/",
        "http://livekit.staging.internal:7880/",
        "https://metadata.example.com/",
        "https://livekit.example.com/healthz?probe=1",
    ],
)
def test_a_health_url_to_loopback_or_a_public_name_is_accepted(tmp_path, url):
    assert_accepted(tmp_path, LIVEKIT_URL, f'health_url = "{url}"')
    livekit = Service.objects.get(environment__slug="staging", name="livekit")
    assert livekit.health_url == url


# --- refused whole, and idempotent -----------------------------------------------------


def test_a_refused_file_changes_nothing_and_writes_no_audit_event(tmp_path):
    sync(EXAMPLE_PLATFORM)
    before = AuditEvent.objects.count()
    # A valid change first, then a wrong value further down: a partial apply would show.
    text = EXAMPLE.replace("monthly_target = 300 ", "monthly_target = 310 ", 1)
    text = text.replace("max_error_rate = 0.005", "max_error_rate = 0.0000001", 2)

    message = refusal(tmp_path, text)

    assert "environments[0].canary.max_error_rate" in message
    assert Environment.objects.get(slug="staging").monthly_target == 300
    assert Environment.objects.get(slug="production").max_error_rate == Decimal("0.005")
    assert AuditEvent.objects.count() == before


def test_a_second_run_of_the_example_file_writes_no_audit_event():
    sync(EXAMPLE_PLATFORM)
    events = AuditEvent.objects.count()

    output = sync(EXAMPLE_PLATFORM)

    assert AuditEvent.objects.count() == events
    assert "0 created, 0 updated" in output


# --- the rollout's phases ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "key", "says"),
    [
        (
            'vm_phase = "after_canary"                # or "before_canary"',
            'vm_phase = "first"',
            "environments[0].canary.vm_phase",
            "'after_canary' or 'before_canary'",
        ),
        (
            "verify_seconds = 120 ",
            "verify_seconds = -5 ",
            "environments[0].canary.verify_seconds",
            "greater than or equal to 0",
        ),
        (
            "verify_seconds = 120 ",
            "verify_seconds = 60.5 ",
            "environments[0].canary.verify_seconds",
            "whole number",
        ),
        (
            "release_is_atomic = true ",
            'release_is_atomic = "yes" ',
            "environments[1].release_is_atomic",
            "must be true or false",
        ),
    ],
)
def test_the_phase_keys_are_checked(tmp_path, old, new, key, says):
    assert_refused(tmp_path, old, new, key, says)


def test_the_phase_keys_reach_the_environments(tmp_path):
    assert_accepted(tmp_path, "verify_seconds = 120 ", "verify_seconds = 0 ")
    staging = Environment.objects.get(slug="staging")
    production = Environment.objects.get(slug="production")
    assert (staging.verify_seconds, staging.verification_seconds) == (0, 0)
    assert (production.verification_seconds, production.vm_phase) == (600, "after_canary")
    assert (staging.release_is_atomic, production.release_is_atomic) == (False, True)


def test_verify_seconds_left_out_is_the_bake_time(tmp_path):
    assert_accepted(tmp_path, "verify_seconds = 120 ", "")
    staging = Environment.objects.get(slug="staging")
    assert staging.verify_seconds is None and staging.verification_seconds == 120
