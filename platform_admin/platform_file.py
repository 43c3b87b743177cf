"""Reading and validating the platform definition file (see design.md).

`load_platform(path)` returns a validated `PlatformSpec` or raises `PlatformFileError`
naming the key path and the line of the first problem. Unknown keys are refused: a
misspelt key silently ignored would leave production configured wrong. Nothing is
coerced either: `requires_approval = "no"` is refused, not read as true or false, and a
number the database column would round or overflow is refused, not stored changed.
"""

import ipaddress
import json
import re
import socket
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

SLUG = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
RESERVED_SLUGS = {  # environment slugs that name something else where environments are listed
    "unallocated": "the cost figures name so the rows of no environment",
}
# The largest value a PositiveIntegerField column holds (Postgres `integer`).
MAX_COLUMN_INT = 2_147_483_647
# The file needs 3 levels of brackets and 6 of keys; a limit keeps the parser's recursion
# (and every walk over the data) far from Python's stack limit.
MAX_NESTING = 10
Percent = Annotated[int, Field(ge=1, le=100)]
ColumnInt = Annotated[int, Field(ge=0, le=MAX_COLUMN_INT)]


class PlatformFileError(Exception):
    def __init__(self, path: str, key: str, line: int | None, message: str):
        self.key, self.line, self.message = key, line, message
        where = f"{path}:{line}" if line else path
        super().__init__(f"{where}: {key}: {message}" if key else f"{where}: {message}")


class Problem(ValueError):
    """A refusal that points at `loc`, relative to where it is raised (a validator's model
    or field), so the message names the key that is wrong rather than its table."""

    def __init__(self, loc: tuple, message: str):
        super().__init__(message)
        self.loc = loc


# --- numbers ---------------------------------------------------------------------------


def _describe(value) -> str:
    """How a refused value reads in a message: as it was written in the file."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"the string {json.dumps(value[:40])}"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, int | Decimal):
        return _plain(value)
    return f"a {type(value).__name__}"


def _plain(number: int | Decimal) -> str:
    plain = isinstance(number, Decimal) and abs(_exponent(number)) <= 30
    text = format(number, "f") if plain else str(number)
    return text if len(text) <= 40 else f"{text[:37]}..."


def _exponent(number: int | Decimal) -> int:
    return number.as_tuple().exponent if isinstance(number, Decimal) else 0


def _number(value) -> Decimal:
    """A TOML integer or float (read as Decimal, exactly as written); never a bool or a
    string, which lax validation would turn into 1 or 300."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise ValueError(f"must be a number, not {_describe(value)}")
    return Decimal(value)


def _digits(value: Decimal) -> tuple[int, int]:
    """(digits before the point, decimal places) of `value`, trailing zeros not counted.

    Integer arithmetic on the tuple: no decimal context, so 1e999999 cannot overflow."""
    _, digits, exponent = value.as_tuple()
    digits = list(digits)
    while exponent < 0 and digits and digits[-1] == 0:
        digits.pop()
        exponent += 1
    places = max(0, -exponent)
    return max(0, len(digits) - places) if exponent < 0 else len(digits) + exponent, places


def fits(max_digits: int, decimal_places: int) -> AfterValidator:
    """Refuse what a DecimalField(max_digits, decimal_places) would round or overflow:
    a rounded value would differ from the file on every run, and be audited each time."""

    def check(value: Decimal) -> Decimal:
        before, places = _digits(value)
        if places > decimal_places:
            raise ValueError(
                f"{_plain(value)} has too many decimal places: "
                f"at most {decimal_places} decimal places"
            )
        if before > max_digits - decimal_places:
            raise ValueError(
                f"{_plain(value)} is too large: "
                f"at most {max_digits - decimal_places} digits before the decimal point"
            )
        return Decimal(int(value)) if _exponent(value) > 0 else value  # 1e3 reads as 1000

    return AfterValidator(check)


# Environment.monthly_target, .max_error_rate and .slo_uptime (platform_admin.models).
Money = Annotated[Decimal, BeforeValidator(_number), fits(12, 2)]
Rate = Annotated[Decimal, BeforeValidator(_number), fits(6, 5)]
Ratio = Annotated[Decimal, BeforeValidator(_number), fits(6, 3)]  # .max_cost_ratio
# Service sizing lives in a JSON column: no database limit, but keep it sane.
Size = Annotated[Decimal, BeforeValidator(_number), fits(15, 6)]


def _range(value):
    """A low–high pair, or one number for both."""
    if isinstance(value, list):
        if len(value) != 2:
            raise ValueError("a range is [low, high] (or one number)")
        return value
    return [value, value]


def _ordered(pair: list[Decimal]) -> list[Decimal]:
    if pair[0] > pair[1]:
        raise ValueError(f"the range's low {_plain(pair[0])} is above its high {_plain(pair[1])}")
    return pair


Range = Annotated[
    list[Annotated[Decimal, BeforeValidator(_number), fits(15, 6), Field(ge=0)]],
    BeforeValidator(_range),
    AfterValidator(_ordered),
]
MoneyRange = Annotated[
    list[Annotated[Decimal, BeforeValidator(_number), fits(12, 2), Field(ge=0)]],
    BeforeValidator(_range),
    AfterValidator(_ordered),
]
LabelKey = Annotated[str, StringConstraints(min_length=1, max_length=63)]  # GCP label limits
LabelValue = Annotated[str, StringConstraints(max_length=63)]


# --- health URLs -----------------------------------------------------------------------

# Names and addresses of the GCE metadata server, which hands out the VM's credentials:
# a health probe sent there from inside Google Cloud would leak them into the rollout log.
METADATA_NAMES = {"metadata.google.internal", "metadata.goog", "metadata"}
METADATA_ADDRESSES = {ipaddress.ip_address("fd20:ce::254")}
# Every other way resolvers read an IPv4 address: 2852039166, 0xa9fea9fe, 0251.0376.0.1.
_NUMERIC_HOST = re.compile(r"[0-9a-fx.]+")
_PLAIN_HOST = re.compile(r"[a-z0-9._-]+")


def check_health_url(url: str, key: str = "health_url") -> str:
    """Refuse a URL the dashboard will GET (a VM's health probe, a site's public URL)
    that is not a plain http(s) URL or that points at the metadata server or a
    link-local address (loopback and public names are fine)."""
    if not url:
        return url
    if not re.match(r"^https?://", url):
        raise ValueError(f"{key} must be an http(s) URL")
    if re.search(r"[\s\\]", url):
        # Parsers disagree on these: the host we check must be the host that is probed.
        raise ValueError(f"{key} must not contain spaces or backslashes")
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # a malformed [IPv6] host
        raise ValueError(f"{key} is not a valid URL: {exc}") from exc
    if "@" in parts.netloc:
        raise ValueError(f"{key} must not carry a user name or password")
    try:
        parts.port  # noqa: B018 - urlsplit checks the port only when asked
    except ValueError as exc:
        raise ValueError(f"{key} has an invalid port: {exc}") from exc
    refusal = _host_refusal(parts.hostname or "", bracketed="[" in parts.netloc)
    if refusal:
        raise ValueError(f"{key} {refusal}")
    return url


def check_public_url(url: str) -> str:
    return check_health_url(url, "public_url")


def _host_refusal(host: str, bracketed: bool) -> str:
    if not host:
        return "needs a host"
    if not bracketed and not _PLAIN_HOST.fullmatch(host):
        return "must name its host in plain ASCII letters, digits, dots and dashes"
    name = host.rstrip(".")
    address = _address(name)
    if name in METADATA_NAMES or address in METADATA_ADDRESSES:
        return "must not point at the metadata server: it would be probed from inside GCP"
    if address is not None and address.is_link_local:
        return (
            f"must not point at a link-local address ({address}): the metadata server "
            "answers there, and it would be probed from inside GCP"
        )
    return ""


def _address(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The IP address `name` spells, in any form a resolver accepts; None for a name."""
    try:
        address = ipaddress.ip_address(name.split("%", 1)[0])  # fe80::1%25eth0: a zone id
    except ValueError:
        if not _NUMERIC_HOST.fullmatch(name):
            return None
        try:
            return ipaddress.IPv4Address(socket.inet_aton(name))
        except OSError:
            return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped  # ::ffff:169.254.169.254 is 169.254.169.254
    return address


# --- the schema ------------------------------------------------------------------------


class _Strict(BaseModel):
    # strict: a bool is not a number, a string is not a bool or a number (see _number).
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


BIGQUERY_TABLE = re.compile(r"[a-z][a-z0-9.:-]{4,61}[a-z0-9]\.\w{1,1024}\.[\w-]{1,1024}")


class BillingSpec(_Strict):
    account: str = Field(pattern=r"^[0-9A-F]{6}-[0-9A-F]{6}-[0-9A-F]{6}$")
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    # The BigQuery billing export the daily pull reads, and the project its query jobs
    # run in (and are billed to). Blank: no pull, files only.
    export_table: str = Field(default="", max_length=300)
    query_project: str = Field(default="", pattern=r"^$|^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
    # The resource label naming a row's component (a service of the environment).
    component_label: str = Field(default="app", pattern=r"^[a-z][a-z0-9_-]{0,62}$")

    @field_validator("export_table")
    @classmethod
    def table_name(cls, value: str) -> str:
        if value and not BIGQUERY_TABLE.fullmatch(value):
            raise ValueError(f"{value!r} is not a BigQuery table of the form project.dataset.table")
        return value

    @model_validator(mode="after")
    def pull_needs_a_project(self):
        if self.export_table and not self.query_project:
            raise ValueError("[billing] export_table needs query_project (where the query runs)")
        return self


class CanarySpec(_Strict):
    steps: list[Percent] = [5, 25, 50, 100]
    bake_seconds: int = Field(default=300, ge=1, le=86_400)
    # The verification bake after 100% (Cloud Deploy's verify phase): unset = bake_seconds,
    # 0 = no verification.
    verify_seconds: int | None = Field(default=None, ge=0, le=86_400)
    # Where a VM of the release goes: after the Cloud Run canary reached 100% (a failed
    # canary never touches it) or before any traffic moves.
    vm_phase: Literal["after_canary", "before_canary"] = "after_canary"
    max_error_rate: Rate = Field(default=Decimal("0.005"), ge=0, le=1)
    # A canary costing more than this many times stable's per request fails its step
    # (billable instance time × the list prices ÷ requests).
    max_cost_ratio: Ratio = Field(default=Decimal("1.5"), gt=1, le=100)
    min_requests: ColumnInt = 100

    @field_validator("steps")
    @classmethod
    def steps_increase_to_100(cls, steps: list[int]) -> list[int]:
        if not steps or steps[-1] != 100:
            raise ValueError("the last canary step must be 100")
        if any(b <= a for a, b in zip(steps, steps[1:], strict=False)):
            raise ValueError("canary steps must strictly increase")
        return steps


class SloSpec(_Strict):
    p95_ms: int = Field(default=500, ge=1, le=MAX_COLUMN_INT)
    uptime: Rate = Field(default=Decimal("0.95"), gt=0, le=1)


MACHINE_TYPE = re.compile(
    r"(n1|n2|n2d|e2|c2|c3|t2d)-(standard|highmem|highcpu)-\d{1,3}|e2-(micro|small|medium)"
)
SQL_TIER = re.compile(
    r"db-(n1-(standard|highmem)-\d{1,2}|custom-\d{1,2}-\d{3,6}|f1-micro|g1-small)"
)


class ServiceSpec(_Strict):
    name: str = Field(pattern=SLUG, max_length=49)
    kind: Literal["cloud_run", "gce_vm", "static_site", "cloud_sql", "memorystore", "vpc_connector"]
    # Sizing for the cost estimate; which keys matter depends on the kind.
    cpu: Size | None = Field(default=None, gt=0)
    memory_gib: Size | None = Field(default=None, gt=0)
    min_instances: ColumnInt | None = None
    max_instances: ColumnInt | None = Field(default=None, ge=1)
    concurrency: int | None = Field(default=None, ge=1, le=1000)
    zone: str = Field(default="", max_length=40)
    machine_type: str = Field(default="", max_length=64)
    # Service.health_url is a URLField: 200 characters.
    health_url: Annotated[str, AfterValidator(check_health_url)] = Field(default="", max_length=200)
    # A static site: the bucket it is served from, the URL map of the load balancer whose
    # Cloud CDN caches it (empty: no CDN), and the public URL a deploy checks.
    bucket: str = Field(default="", pattern=r"^([a-z0-9][a-z0-9._-]{1,61}[a-z0-9])?$")
    url_map: str = Field(default="", pattern=r"^([a-z]([-a-z0-9]{0,61}[a-z0-9])?)?$")
    public_url: Annotated[str, AfterValidator(check_public_url)] = Field(default="", max_length=200)
    tier: str = Field(default="", max_length=64)
    storage_gb: Size | None = Field(default=None, ge=0)
    disk_gb: Size | None = Field(default=None, ge=0)
    high_availability: bool = False
    egress_gib_month: Size | None = Field(default=None, ge=0)
    # Cloud Run's cost model: instance-based billing (CPU always allocated) or
    # request-based (billed while serving, plus a request fee and idle min-instances), and
    # the expected load as a range: requests/s while active, the mean request time, the
    # hours a day the service is busy.
    billing: Literal["instance", "request"] | None = None
    expected_rps: Range | None = None
    request_ms: int | None = Field(default=None, ge=1, le=3_600_000)
    active_hours_per_day: Range | None = None

    @field_validator("active_hours_per_day")
    @classmethod
    def at_most_a_day(cls, value):
        if value is not None and value[1] > 24:
            raise ValueError("active_hours_per_day is at most 24")
        return value

    @model_validator(mode="after")
    def vm_needs_zone(self) -> "ServiceSpec":
        if self.kind == "gce_vm" and not (self.zone and self.machine_type):
            raise ValueError("a gce_vm service needs zone and machine_type")
        if self.machine_type and not MACHINE_TYPE.fullmatch(self.machine_type):
            raise ValueError(
                f"machine_type {self.machine_type!r} is not a Compute Engine machine type "
                "such as n2-standard-4, e2-micro or n1-highmem-2"
            )
        if self.kind == "cloud_sql" and not SQL_TIER.fullmatch(self.tier):
            raise ValueError(
                f"tier {self.tier!r} is not a Cloud SQL tier such as db-n1-standard-1, "
                "db-custom-2-7680 or db-f1-micro"
            )
        if self.kind == "memorystore" and self.tier not in ("basic", "standard"):
            raise ValueError(f"tier {self.tier!r}: a memorystore tier is basic or standard")
        if self.billing and self.kind != "cloud_run":
            raise ValueError("billing (instance or request) belongs to a cloud_run service")
        if self.kind == "static_site" and not (self.bucket and self.public_url):
            raise ValueError("a static_site service needs bucket and public_url")
        if self.kind != "static_site" and (self.bucket or self.url_map or self.public_url):
            raise ValueError("bucket, url_map and public_url belong to a static_site service")
        return self

    def sizing(self) -> dict:
        """The estimate-relevant keys, JSON-ready (stored in Service.spec)."""
        skip = {"name", "kind", "zone", "health_url", "bucket", "url_map", "public_url"}
        return json_ready(self.model_dump(exclude=skip, exclude_defaults=True))


def json_ready(value):
    """Decimals as their exact strings, at any depth (for JSON columns)."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    return value


class CommitmentSpec(_Strict):
    """A committed-use discount the environment holds: resource-based (vCPU and memory of
    its VMs, priced from the catalog's commitment SKUs) or spend-based (a share of a
    service's spend at Google's published discount)."""

    type: Literal["resource", "spend"]
    term: Literal["1y", "3y"]
    # The share of the eligible usage the commitment covers, 0–1.
    share: Rate = Field(gt=0, le=1)
    # The services it applies to (their names); empty = every eligible one.
    services: list[Annotated[str, Field(pattern=SLUG, max_length=49)]] = Field(
        default=[], max_length=64
    )


class PlanComponentSpec(_Strict):
    """One line of the team's own plan: its name, the services it prices, its range."""

    name: str = Field(min_length=1, max_length=80)
    services: list[Annotated[str, Field(pattern=SLUG, max_length=49)]] = Field(
        default=[], max_length=64
    )
    cost: MoneyRange


class PlanSpec(_Strict):
    """The team's own monthly figures: the stated total and the components it lists."""

    total: MoneyRange
    components: list[PlanComponentSpec] = Field(default=[], max_length=64)


class JobSpec(_Strict):
    """A Cloud Run job a rollout runs with the release's own image (migrations)."""

    job: str = Field(pattern=r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
    image_of: str = Field(pattern=SLUG, max_length=49)  # the Cloud Run service whose image
    args: list[Annotated[str, Field(max_length=200)]] = Field(default=[], max_length=20)
    timeout_seconds: int = Field(default=600, ge=1, le=86_400)
    required: bool = True  # a failure stops the rollout


class EnvironmentSpec(_Strict):
    slug: str = Field(pattern=SLUG, max_length=40)
    name: str = Field(min_length=1, max_length=80)
    gcp_project: str = Field(pattern=r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
    region: str = Field(pattern=r"^[a-z]+-[a-z]+\d+$", max_length=40)
    monthly_target: Money = Field(ge=0)
    requires_approval: bool = False
    promote_from: str = Field(default="", max_length=40)
    cost_labels: dict[LabelKey, LabelValue] = Field(default={}, max_length=64)
    slack_webhook_env: str = Field(default="", pattern=r"^([A-Z_][A-Z0-9_]*)?$", max_length=64)
    default_strategy: Literal["canary", "all_at_once"] = "canary"
    # The release is one unit: a VM failing its probe rolls the Cloud Run services back too.
    release_is_atomic: bool = False
    canary: CanarySpec = CanarySpec()
    slo: SloSpec = SloSpec()
    # Run before any traffic moves: the migrations, with the release's image of a service.
    pre_deploy: JobSpec | None = None
    # Costs: a rollout that would start while the month's forecast is over the target
    # needs an approver's override (without it the deploy page only warns); the
    # committed-use discounts held; the team's own plan figures, shown beside the estimate.
    block_when_over_budget: bool = False
    commitments: list[CommitmentSpec] = Field(default=[], max_length=32)
    plan: PlanSpec | None = None
    services: list[ServiceSpec] = []

    @model_validator(mode="after")
    def job_image_is_a_cloud_run_service(self) -> "EnvironmentSpec":
        if self.pre_deploy is None:
            return self
        kinds = {s.name: s.kind for s in self.services}
        if kinds.get(self.pre_deploy.image_of) != "cloud_run":
            raise Problem(
                ("pre_deploy", "image_of"),
                f"{self.pre_deploy.image_of!r} is not a cloud_run service of this environment",
            )
        return self

    @model_validator(mode="after")
    def cost_references_name_services(self) -> "EnvironmentSpec":
        names = {s.name for s in self.services}
        for index, commitment in enumerate(self.commitments):
            for name in commitment.services:
                if name not in names:
                    raise Problem(
                        ("commitments", index, "services"),
                        f"{name!r} is not a service of this environment",
                    )
        for index, component in enumerate(self.plan.components if self.plan else []):
            for name in component.services:
                if name not in names:
                    raise Problem(
                        ("plan", "components", index, "services"),
                        f"{name!r} is not a service of this environment",
                    )
        return self

    @field_validator("services")
    @classmethod
    def unique_service_names(cls, services: list[ServiceSpec]) -> list[ServiceSpec]:
        names = [s.name for s in services]
        for index, name in enumerate(names):
            if name in names[:index]:
                raise Problem((index, "name"), f"service names must be unique: {name}")
        return services


class PlatformSpec(_Strict):
    billing: BillingSpec
    environments: list[EnvironmentSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def check_references(self) -> "PlatformSpec":
        slugs = [e.slug for e in self.environments]
        for index, env in enumerate(self.environments):
            if env.slug in slugs[:index]:
                raise Problem(
                    ("environments", index, "slug"),
                    f"environment slugs must be unique: {env.slug}",
                )
            if env.slug in RESERVED_SLUGS:
                raise Problem(
                    ("environments", index, "slug"),
                    f"{env.slug!r} is reserved: {RESERVED_SLUGS[env.slug]}",
                )
        for index, env in enumerate(self.environments):
            where = ("environments", index, "promote_from")
            if env.promote_from and env.promote_from not in slugs:
                raise Problem(
                    where,
                    f"environment {env.slug!r}: promote_from {env.promote_from!r} "
                    "names no environment in this file",
                )
            if env.promote_from == env.slug:
                raise Problem(where, f"environment {env.slug!r} cannot promote from itself")
        cycle = promotion_cycle({e.slug: e.promote_from for e in self.environments})
        if cycle:
            where = ("environments", slugs.index(cycle[0]), "promote_from")
            raise Problem(where, f"promotion cycle: {' → '.join(cycle)}")
        return self


def promotion_cycle(sources: dict[str, str]) -> list[str]:
    """The first cycle of `promote_from` links, in file order, as [a, b, a]; [] if none.

    A cycle would leave no environment a release could ever be promoted from."""
    for start in sources:
        path, current = [start], sources[start]
        while current:
            if current in path:
                return path[path.index(current) :] + [current]
            path.append(current)
            current = sources.get(current, "")
    return []


# --- reading the file ------------------------------------------------------------------


def load_platform(path: str | Path) -> PlatformSpec:
    """Read and validate the platform file at `path` (UTF-8 TOML)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise PlatformFileError(str(path), "", None, f"cannot read the file: {exc}") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        message = f"not UTF-8 text: byte 0x{raw[exc.start]:02x} cannot be decoded"
        raise PlatformFileError(str(path), "", line, message) from exc
    return parse_platform(text, str(path))


def parse_platform(text: str, name: str = "<platform file>") -> PlatformSpec:
    """Validate platform-file TOML `text`; errors start with `name` and the line."""
    data = _read_toml(text, name)
    try:
        check_strings_and_depth(data)
        return PlatformSpec.model_validate(data)
    except Problem as exc:
        line = locate_key(text, exc.loc)
        raise PlatformFileError(name, _key_path(exc.loc), line, str(exc)) from exc
    except ValidationError as exc:
        loc, message = _first_error(exc)
        raise PlatformFileError(name, _key_path(loc), locate_key(text, loc), message) from exc


def _read_toml(text: str, name: str) -> dict:
    line = too_deep_line(text)
    if line:
        message = f"nested too deeply: at most {MAX_NESTING} levels of arrays and tables"
        raise PlatformFileError(name, "", line, message)
    try:
        # Floats as Decimal, exactly as written: 0.1 must not become 0.1000000000000000055.
        return tomllib.loads(text, parse_float=Decimal)
    except tomllib.TOMLDecodeError as exc:
        line = getattr(exc, "lineno", None) or _line_from_message(str(exc))
        raise PlatformFileError(name, "", line, f"not valid TOML: {exc}") from exc
    except ValueError as exc:  # an integer longer than Python converts (4300 digits)
        long_number = re.search(r"[0-9_]{4300,}", text)
        line = text.count("\n", 0, long_number.start()) + 1 if long_number else None
        raise PlatformFileError(name, "", line, "not valid TOML: a number is too long") from exc
    except RecursionError as exc:  # nesting the bracket count did not see
        message = f"nested too deeply: at most {MAX_NESTING} levels of arrays and tables"
        raise PlatformFileError(name, "", None, message) from exc


_TOKENS = re.compile(
    r'"""(?:\\.|[^\\])*?"""|\'\'\'.*?\'\'\'|"(?:\\.|[^"\\\n])*"|\'[^\'\n]*\'|#[^\n]*|[\[\]{}\n]',
    re.DOTALL,
)


def too_deep_line(text: str) -> int | None:
    """The line where arrays and inline tables open more than MAX_NESTING deep, if any.

    Counted before parsing because the parser recurses per level: 10,000 `[` would
    exhaust the stack. Strings and comments are skipped so brackets in them don't count."""
    depth, line = 0, 1
    for token in _TOKENS.finditer(text):
        if token[0] in ("[", "{"):
            depth += 1
            if depth > MAX_NESTING:
                return line
        elif token[0] in ("]", "}"):
            depth = max(depth - 1, 0)
        else:
            line += token[0].count("\n")
    return None


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def check_strings_and_depth(data: dict) -> None:
    """Refuse control characters (NUL above all: Postgres refuses it in text) in any key
    or string, and tables nested deeper than MAX_NESTING (dotted keys nest unbracketed).

    Iterative and in file order, so the first problem in the file is the one named."""
    stack: list[tuple[tuple, object]] = [((), data)]
    while stack:
        loc, value = stack.pop()
        if len(loc) > MAX_NESTING:
            raise Problem(loc, f"nested too deeply: at most {MAX_NESTING} levels of keys")
        if isinstance(value, dict):
            for key in value:
                _refuse_control(loc + (key,), key, "key")
            stack.extend(reversed([(loc + (key,), item) for key, item in value.items()]))
        elif isinstance(value, list):
            stack.extend(reversed([(loc + (i,), item) for i, item in enumerate(value)]))
        elif isinstance(value, str):
            _refuse_control(loc, value, "value")


def _refuse_control(loc: tuple, text: str, what: str) -> None:
    found = _CONTROL.search(text)
    if found:
        code = f"U+{ord(found[0]):04X}"
        raise Problem(loc, f"the {what} contains a control character ({code})")


# What pydantic says for a wrong type, as a sentence about the file.
_TYPE_MESSAGES = {
    "bool_type": "must be true or false",
    "int_type": "must be a whole number",
    "string_type": "must be a string in quotes",
    "list_type": "must be an array",
    "model_type": "must be a table",
    "dict_type": "must be a table",
    "extra_forbidden": "unknown key (a misspelt key would be silently ignored)",
}


def _first_error(exc: ValidationError) -> tuple[tuple, str]:
    """The location and message of the first problem, relative loc of a Problem applied."""
    first = exc.errors()[0]
    loc = tuple(first["loc"])
    error = first.get("ctx", {}).get("error")
    if isinstance(error, Problem):
        return loc + error.loc, str(error)
    message = _TYPE_MESSAGES.get(first["type"])
    if message and first["type"] != "extra_forbidden":
        return loc, f"{message}, not {_describe(first['input'])}"
    return loc, message or first["msg"].removeprefix("Value error, ")


def _line_from_message(message: str) -> int | None:
    match = re.search(r"line (\d+)", message)
    return int(match[1]) if match else None


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _key_path(loc: tuple) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part == "[key]":  # pydantic: the dict key itself is wrong, not its value
            path += " (the key)"
        else:
            key = part if _BARE_KEY.fullmatch(part) else json.dumps(part)
            path += f".{key}" if path else key
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
