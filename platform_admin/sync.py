"""Bringing the database in line with the platform definition file.

Idempotent: fields are compared first and only real changes are written and audited, so
a second run reports nothing and writes nothing. What the database has and the file no
longer lists is reported, never deleted (an environment may have rollout history).
"""

from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils.module_loading import import_string

from platform_admin import audit
from platform_admin.models import Environment, PlatformSettings, Service
from platform_admin.platform_file import EnvironmentSpec, PlatformSpec, ServiceSpec, json_ready


@dataclass
class SyncReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    not_in_file: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated)

    def lines(self) -> list[str]:
        out = [f"created {name}" for name in self.created]
        out += [f"updated {name}" for name in self.updated]
        out += [f"unchanged {name}" for name in self.unchanged]
        out += [f"not in file (kept, delete by hand if intended) {n}" for n in self.not_in_file]
        return out


def _environment_fields(spec: EnvironmentSpec) -> dict:
    return {
        "name": spec.name,
        "gcp_project": spec.gcp_project,
        "region": spec.region,
        "requires_approval": spec.requires_approval,
        "monthly_target": spec.monthly_target,
        "cost_labels": dict(spec.cost_labels),
        "slack_webhook_env": spec.slack_webhook_env,
        "default_strategy": spec.default_strategy,
        "canary_steps": list(spec.canary.steps),
        "bake_seconds": spec.canary.bake_seconds,
        "verify_seconds": spec.canary.verify_seconds,
        "vm_phase": spec.canary.vm_phase,
        "release_is_atomic": spec.release_is_atomic,
        "pre_deploy": spec.pre_deploy.model_dump() if spec.pre_deploy else {},
        "block_when_over_budget": spec.block_when_over_budget,
        "commitments": [json_ready(c.model_dump()) for c in spec.commitments],
        "cost_plan": json_ready(spec.plan.model_dump()) if spec.plan else {},
        "max_error_rate": spec.canary.max_error_rate,
        "max_cost_ratio": spec.canary.max_cost_ratio,
        "min_requests": spec.canary.min_requests,
        "slo_p95_ms": spec.slo.p95_ms,
        "slo_uptime": spec.slo.uptime,
    }


def _service_fields(spec: ServiceSpec, position: int) -> dict:
    return {
        "kind": spec.kind,
        "zone": spec.zone,
        "health_url": spec.health_url,
        "bucket": spec.bucket,
        "url_map": spec.url_map,
        "public_url": spec.public_url,
        "spec": spec.sizing(),
        "position": position,
    }


def _same(old, new) -> bool:
    if isinstance(new, Decimal) or isinstance(old, Decimal):
        return Decimal(str(old)) == Decimal(str(new))
    return old == new


def _apply(instance, values: dict) -> dict:
    """Set changed attributes; return {field: [old, new]} for the audit detail."""
    changes = {}
    for name, new in values.items():
        old = getattr(instance, name)
        if not _same(old, new):
            changes[name] = [old, new]
            setattr(instance, name, new)
    return changes


@transaction.atomic
def sync_platform(spec: PlatformSpec, actor=None) -> SyncReport:
    """Create or update environments, services and billing settings from `spec`, then
    let each app sync its own sections (`settings.PLATFORM_SYNC_PARTS`: dotted paths of
    functions `part(spec, actor, report)`), all in one transaction: a part that refuses
    the file refuses it whole. Each app's locks are taken first
    (`settings.PLATFORM_SYNC_FIRST`), so that no one waits for them holding another."""
    for lock in settings.PLATFORM_SYNC_FIRST:
        import_string(lock)()
    report = SyncReport()
    _sync_billing(spec, actor, report)
    by_slug = {}
    for position, env_spec in enumerate(spec.environments):
        by_slug[env_spec.slug] = _sync_environment(env_spec, position, actor, report)
    for env_spec in spec.environments:
        _sync_promotion(by_slug[env_spec.slug], by_slug.get(env_spec.promote_from), actor, report)
    for env in Environment.objects.exclude(slug__in=by_slug):
        report.not_in_file.append(f"environment {env.slug}")
    for part in settings.PLATFORM_SYNC_PARTS:
        import_string(part)(spec, actor, report)
    return report


def _sync_billing(spec: PlatformSpec, actor, report: SyncReport) -> None:
    settings_row = PlatformSettings.load()
    billing = spec.billing
    changes = _apply(
        settings_row,
        {
            "billing_account": billing.account,
            "currency": billing.currency,
            "export_table": billing.export_table,
            "query_project": billing.query_project,
            "component_label": billing.component_label,
        },
    )
    if changes:
        settings_row.save()
        audit.record("platform.billing.updated", actor=actor, detail={"changes": changes})
        report.updated.append("billing")
    else:
        report.unchanged.append("billing")


def upsert(instance, create, values: dict, *, kind, label, env_slug, actor, report, also=None):
    """Create (via `create`) when `instance` is None, else update what differs; audit it
    (`platform.KIND.created` / `.updated`, one event per object). Apps' parts use it too.

    `also` adds to a creation's audit detail what is set later (promote_from)."""
    if instance is None:
        instance = create(values)
        audit.record(
            f"platform.{kind}.created",
            actor=actor,
            obj=instance,
            environment=env_slug(instance),
            detail={"values": values | (also or {})},
        )
        report.created.append(label)
        return instance
    changes = _apply(instance, values)
    if not changes:
        report.unchanged.append(label)
        return instance
    instance.save()
    audit.record(
        f"platform.{kind}.updated",
        actor=actor,
        obj=instance,
        environment=env_slug(instance),
        detail={"changes": changes},
    )
    report.updated.append(label)
    return instance


def _sync_environment(spec: EnvironmentSpec, position: int, actor, report) -> Environment:
    values = _environment_fields(spec) | {"position": position}
    env = upsert(
        Environment.objects.filter(slug=spec.slug).first(),
        lambda v: Environment.objects.create(slug=spec.slug, **v),
        values,
        kind="environment",
        label=f"environment {spec.slug}",
        env_slug=lambda e: e.slug,
        actor=actor,
        report=report,
        also={"promote_from": spec.promote_from},
    )
    _sync_services(env, spec.services, actor, report)
    return env


def _sync_services(env: Environment, specs: list[ServiceSpec], actor, report) -> None:
    existing = {s.name: s for s in env.services.all()}
    for position, spec in enumerate(specs):
        upsert(
            existing.pop(spec.name, None),
            lambda v, name=spec.name: Service.objects.create(environment=env, name=name, **v),
            _service_fields(spec, position),
            kind="service",
            label=f"service {env.slug}/{spec.name}",
            env_slug=lambda _: env.slug,
            actor=actor,
            report=report,
        )
    for name in existing:
        report.not_in_file.append(f"service {env.slug}/{name}")


def _sync_promotion(env: Environment, source: Environment | None, actor, report) -> None:
    if env.promote_from_id == (source.pk if source else None):
        return
    old = env.promote_from.slug if env.promote_from_id else ""
    env.promote_from = source
    env.save(update_fields=["promote_from"])
    label = f"environment {env.slug}"
    if label in report.created:
        return  # a new environment: its "created" event has the file's values
    new = source.slug if source else ""
    audit.record(
        "platform.environment.updated",
        actor=actor,
        obj=env,
        environment=env.slug,
        detail={"changes": {"promote_from": [old, new]}},
    )
    if label not in report.updated:
        report.updated.append(label)
        report.unchanged.remove(label)
