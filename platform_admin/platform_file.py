"""Reading and validating the platform definition file (see design.md).

`load_platform(path)` returns a validated `PlatformSpec` or raises `PlatformFileError`
naming the key path and the line of the first problem. Unknown keys are refused: a
misspelt key silently ignored would leave production configured wrong.
"""

import re
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

SLUG = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
Percent = Annotated[int, Field(ge=1, le=100)]


class PlatformFileError(Exception):
    def __init__(self, path: str, key: str, line: int | None, message: str):
        self.key, self.line, self.message = key, line, message
        where = f"{path}:{line}" if line else path
        super().__init__(f"{where}: {key}: {message}" if key else f"{where}: {message}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BillingSpec(_Strict):
    account: str = Field(pattern=r"^[0-9A-F]{6}-[0-9A-F]{6}-[0-9A-F]{6}$")
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")


class CanarySpec(_Strict):
    steps: list[Percent] = [5, 25, 50, 100]
    bake_seconds: int = Field(default=300, ge=1, le=86_400)
    max_error_rate: Decimal = Field(default=Decimal("0.005"), ge=0, le=1)
    min_requests: int = Field(default=100, ge=0)

    @field_validator("steps")
    @classmethod
    def steps_increase_to_100(cls, steps: list[int]) -> list[int]:
        if not steps or steps[-1] != 100:
            raise ValueError("the last canary step must be 100")
        if any(b <= a for a, b in zip(steps, steps[1:], strict=False)):
            raise ValueError("canary steps must strictly increase")
        return steps


class SloSpec(_Strict):
    p95_ms: int = Field(default=500, ge=1)
    uptime: Decimal = Field(default=Decimal("0.95"), gt=0, le=1)


class ServiceSpec(_Strict):
    name: str = Field(pattern=SLUG, max_length=49)
    kind: Literal["cloud_run", "gce_vm", "static_site", "cloud_sql", "memorystore"]
    # Sizing for the cost estimate; which keys matter depends on the kind.
    cpu: Decimal | None = Field(default=None, gt=0)
    memory_gib: Decimal | None = Field(default=None, gt=0)
    min_instances: int | None = Field(default=None, ge=0)
    max_instances: int | None = Field(default=None, ge=1)
    concurrency: int | None = Field(default=None, ge=1, le=1000)
    zone: str = ""
    machine_type: str = ""
    health_url: str = ""
    tier: str = ""
    storage_gb: Decimal | None = Field(default=None, ge=0)
    disk_gb: Decimal | None = Field(default=None, ge=0)
    high_availability: bool = False
    egress_gib_month: Decimal | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def vm_needs_zone(self) -> "ServiceSpec":
        if self.kind == "gce_vm" and not (self.zone and self.machine_type):
            raise ValueError("a gce_vm service needs zone and machine_type")
        if self.health_url and not re.match(r"^https?://", self.health_url):
            raise ValueError("health_url must be an http(s) URL")
        return self

    def sizing(self) -> dict:
        """The estimate-relevant keys, JSON-ready (stored in Service.spec)."""
        skip = {"name", "kind", "zone", "health_url"}
        data = self.model_dump(exclude=skip, exclude_defaults=True)
        return {k: str(v) if isinstance(v, Decimal) else v for k, v in data.items()}


class EnvironmentSpec(_Strict):
    slug: str = Field(pattern=SLUG, max_length=40)
    name: str = Field(min_length=1, max_length=80)
    gcp_project: str = Field(pattern=r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
    region: str = Field(pattern=r"^[a-z]+-[a-z]+\d+$")
    monthly_target: Decimal = Field(ge=0)
    requires_approval: bool = False
    promote_from: str = ""
    cost_labels: dict[str, str] = {}
    slack_webhook_env: str = Field(default="", pattern=r"^([A-Z_][A-Z0-9_]*)?$")
    default_strategy: Literal["canary", "all_at_once"] = "canary"
    canary: CanarySpec = CanarySpec()
    slo: SloSpec = SloSpec()
    services: list[ServiceSpec] = []

    @field_validator("services")
    @classmethod
    def unique_service_names(cls, services: list[ServiceSpec]) -> list[ServiceSpec]:
        names = [s.name for s in services]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"service names must be unique: {', '.join(dupes)}")
        return services


class PlatformSpec(_Strict):
    billing: BillingSpec
    environments: list[EnvironmentSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def check_references(self) -> "PlatformSpec":
        slugs = [e.slug for e in self.environments]
        dupes = sorted({s for s in slugs if slugs.count(s) > 1})
        if dupes:
            raise ValueError(f"environment slugs must be unique: {', '.join(dupes)}")
        for env in self.environments:
            if env.promote_from and env.promote_from not in slugs:
                raise ValueError(
                    f"environment {env.slug!r}: promote_from {env.promote_from!r} "
                    "names no environment in this file"
                )
            if env.promote_from == env.slug:
                raise ValueError(f"environment {env.slug!r} cannot promote from itself")
        return self


def load_platform(path: str | Path) -> PlatformSpec:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PlatformFileError(str(path), "", None, f"cannot read the file: {exc}") from exc
    return parse_platform(text, str(path))


def parse_platform(text: str, name: str = "<platform file>") -> PlatformSpec:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = getattr(exc, "lineno", None) or _line_from_message(str(exc))
        raise PlatformFileError(name, "", line, f"not valid TOML: {exc}") from exc
    try:
        return PlatformSpec.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = _key_path(first["loc"])
        message = first["msg"].removeprefix("Value error, ")
        raise PlatformFileError(name, key, locate_key(text, first["loc"]), message) from exc


def _line_from_message(message: str) -> int | None:
    match = re.search(r"line (\d+)", message)
    return int(match[1]) if match else None


def _key_path(loc: tuple) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


_HEADER_RE = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\s\"-]+?)\s*\]\]?\s*(#.*)?$")
_KEY_RE = re.compile(r"^\s*([A-Za-z0-9_-]+)\s*=")


def locate_key(text: str, loc: tuple) -> int | None:
    """Best-effort line number of a validation error's location in the TOML source.

    Finds the deepest table of `loc` that the file declares (counting array-of-tables
    entries), then the line of the key inside it, or the table's header line when the
    key is missing.
    """
    tables, keys = _table_lines(text)
    loc = tuple(loc)
    for depth in range(len(loc), -1, -1):
        table = loc[:depth]
        if table not in tables:
            continue
        if depth < len(loc) and (table, loc[depth]) in keys:
            return keys[(table, loc[depth])]
        return tables[table]
    return None


def _table_lines(text: str) -> tuple[dict, dict]:
    tables: dict[tuple, int] = {(): 1}
    keys: dict[tuple, int] = {}
    counters: dict[tuple, int] = {}
    current: tuple = ()
    for number, line in enumerate(text.splitlines(), start=1):
        header = _HEADER_RE.match(line)
        if header and not _KEY_RE.match(line):
            parts = [p.strip().strip('"') for p in header[2].split(".")]
            current = _resolve_header(parts, header[1] == "[[", counters)
            tables[current] = number
            continue
        key = _KEY_RE.match(line)
        if key:
            keys.setdefault((current, key[1]), number)
    return tables, keys


def _resolve_header(parts: list[str], is_array: bool, counters: dict) -> tuple:
    """Map `environments.services` to ('environments', 1, 'services', 0) etc."""
    resolved: tuple = ()
    for i, part in enumerate(parts):
        resolved += (part,)
        last = i == len(parts) - 1
        if last and is_array:
            # The path includes the parent's index, so nested arrays count per parent.
            counters[resolved] = counters.get(resolved, -1) + 1
            resolved += (counters[resolved],)
        elif resolved in counters:
            resolved += (counters[resolved],)
    return resolved
