"""Start-up fails loudly on bad configuration; production settings pass `check --deploy`."""

import os
import subprocess
import sys

from tests.conftest import REPO


def manage(*args, **env):
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in {"SECRET_KEY", "DEBUG", "HTTPS", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO,
        env=base | env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_missing_secret_key_with_debug_off_fails_start_up():
    result = manage("check", DEBUG="off")
    assert result.returncode != 0
    assert result.stderr == (  # one sentence a person at a terminal reads, no traceback
        "Configuration: SECRET_KEY must be set when DEBUG is off (or set SECRET_KEY_FILE to a "
        "file that holds it). (README: Configuration)\n"
    )


def test_mistyped_boolean_fails_start_up():
    result = manage("check", DEBUG="maybe", SECRET_KEY="x" * 60)
    assert result.returncode != 0
    assert "DEBUG='maybe' is not a boolean" in result.stderr


def test_secret_key_can_come_from_a_file(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("k" * 20 + "Q7!zp" * 10)
    result = manage("check", DEBUG="off", SECRET_KEY_FILE=str(secret))
    assert result.returncode == 0, result.stderr


def test_production_settings_pass_check_deploy():
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DEBUG="off",
        SECRET_KEY="p6v#Yq2!Lm9@xR4$tZ8%wK1^bN5&cH7*jD3(fG0)sA-uE=oI+pU_yT~rW",
        ALLOWED_HOSTS="dashboard.example.com",
        CSRF_TRUSTED_ORIGINS="https://dashboard.example.com",
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_cost_anomaly_floor_that_is_no_amount_fails_start_up():
    result = manage("check", DEBUG="on", COST_ANOMALY_FLOOR="one dollar")
    assert result.returncode != 0
    assert "COST_ANOMALY_FLOOR='one dollar' is not an amount like 1.50" in result.stderr
    negative = manage("check", DEBUG="on", COST_ANOMALY_FLOOR="-1")
    assert "must be a finite amount, 0 or more" in negative.stderr


def _cgroup(tmp_path, v2: str | None = None, v1: tuple[str, str] | None = None):
    tmp_path.mkdir()
    if v2 is not None:
        (tmp_path / "cpu.max").write_text(v2 + "\n")
    if v1 is not None:
        (tmp_path / "cpu").mkdir()
        (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text(v1[0] + "\n")
        (tmp_path / "cpu" / "cpu.cfs_period_us").write_text(v1[1] + "\n")
    return tmp_path


def test_the_cpus_available_are_bounded_by_the_containers_cpu_quota(tmp_path):
    """What the parse workers of a big billing import are counted by."""
    from platform_admin.env import cpus_available

    host = len(os.sched_getaffinity(0))
    (tmp_path / "none").mkdir()
    assert cpus_available(tmp_path / "none") == host
    assert cpus_available(_cgroup(tmp_path / "max", v2="max 100000")) == host
    assert cpus_available(_cgroup(tmp_path / "half", v2="50000 100000")) == 1
    assert cpus_available(_cgroup(tmp_path / "v1", v1=("150000", "100000"))) == min(host, 2)
    assert cpus_available(_cgroup(tmp_path / "v1-none", v1=("-1", "100000"))) == host
    assert cpus_available(_cgroup(tmp_path / "many", v2=f"{host * 400000} 100000")) == host
