"""Reading the platform definition file (TOML) the sandbox seeds itself from.

Only the keys the sandbox needs are read; unknown keys and service kinds are ignored
so the sandbox keeps working while the file format grows.
"""

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_ACCOUNT = "01A2B3-C4D5E6-F7A8B9"


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    kind: str
    options: dict = field(default_factory=dict)

    def get(self, key: str, default=None):
        return self.options.get(key, default)

    def number(self, *keys: str, default: float = 0.0) -> float:
        """The first of `keys` present in the file, as a float (aliases tolerate drift)."""
        for key in keys:
            if key in self.options:
                return float(self.options[key])
        return float(default)


@dataclass(frozen=True)
class Environment:
    slug: str
    project: str
    region: str
    cost_labels: dict
    committed_use_discount: float
    services: tuple[ServiceSpec, ...]
    pre_deploy: dict = field(default_factory=dict)
    commitments: tuple[dict, ...] = ()  # [[environments.commitments]] as written

    def of_kind(self, kind: str) -> list[ServiceSpec]:
        return [s for s in self.services if s.kind == kind]


@dataclass(frozen=True)
class Platform:
    account: str
    currency: str
    environments: tuple[Environment, ...]

    def project_number(self, project: str) -> str:
        """A stable 12-digit project number derived from the project id."""
        digits = "".join(str(ord(c) % 10) for c in project)
        return ("1" + digits + "0" * 12)[:12]


def load_platform(path: str | Path) -> Platform:
    with open(path, "rb") as fh:
        data = tomllib.load(fh)
    billing = data.get("billing", {})
    envs = tuple(_environment(raw) for raw in data.get("environments", []))
    return Platform(
        account=billing.get("account", DEFAULT_ACCOUNT),
        currency=billing.get("currency", "USD"),
        environments=envs,
    )


def _environment(raw: dict) -> Environment:
    services = tuple(
        ServiceSpec(name=s["name"], kind=s.get("kind", ""), options=dict(s))
        for s in raw.get("services", [])
        if "name" in s
    )
    return Environment(
        slug=raw.get("slug", raw.get("gcp_project", "env")),
        project=raw["gcp_project"],
        region=raw.get("region", "us-central1"),
        cost_labels=dict(raw.get("cost_labels", {})),
        committed_use_discount=float(raw.get("committed_use_discount", 0.0)),
        services=services,
        pre_deploy=dict(raw.get("pre_deploy", {})),
        commitments=tuple(dict(c) for c in raw.get("commitments", []) if isinstance(c, dict)),
    )
