"""Traffic splits of a rollout's Cloud Run services: reading them and moving them.

`apply_splits` sets every service's split at once (see `fanout`): the Google calls run in
a small thread pool, the rollout's fields and timeline rows are written by the caller.
"""

from deployments import fanout
from platform_admin import gcp_run
from platform_admin.gcp_run import TrafficTarget

CANARY_TAG = "canary"


def stable_revision(live) -> str | None:
    """The revision serving the most traffic (LATEST resolves to the latest ready one)."""
    split = traffic_split(live)
    return max(split, key=split.get) if split else live.latest_ready_revision


def traffic_split(live) -> dict[str, int]:
    split: dict[str, int] = {}
    for target in live.traffic:
        name = target.revision or live.latest_ready_revision
        if target.percent and name:
            split[name] = split.get(name, 0) + target.percent
    return split


def step_targets(record: dict, percent: int) -> list[TrafficTarget]:
    """The split of one canary step: `percent` on the new revision, the rest on stable."""
    canary, stable = record["canary"], record.get("stable")
    if percent >= 100 or not stable or stable == canary:
        return [TrafficTarget(canary, 100)]
    return [TrafficTarget(stable, 100 - percent), TrafficTarget(canary, percent, CANARY_TAG)]


def apply_splits(rollout, timeline, wanted: dict[str, list[TrafficTarget]]) -> None:
    """Give every named service its split (all at once); raise the first Google error.

    The services that did get their split are recorded even when another one failed, so
    the rollout's `traffic` says what Google serves.
    """
    env = rollout.environment
    names = list(wanted)
    recorded = {name: dict(rollout.traffic.get(name) or {}) for name in names}
    outcomes = fanout.run(
        lambda name: _ensure_split(env.gcp_project, env.region, name, wanted[name], recorded[name]),
        names,
    )
    for name, outcome in zip(names, outcomes, strict=True):
        if outcome.ok:
            _record(rollout, timeline, name, outcome.value)
    fanout.raise_first(outcomes)


def _ensure_split(
    project: str, region: str, service_name: str, targets, recorded: dict[str, int]
) -> gcp_run.ServiceState:
    """Set the split unless the live service already has it (a repeated step). Google only.

    `recorded` is the split the last traffic call returned. When the wanted split differs
    from it, the split is set without reading the service first: the update names every
    revision and share, so sending it again is harmless. Only a split that looks done
    already (a repeated pass) is checked against the live service.
    """
    if recorded != {t.revision: t.percent for t in targets if t.percent}:
        return gcp_run.set_traffic(project, region, service_name, list(targets))
    live = gcp_run.get_service(project, region, service_name)
    wanted = {(t.revision, t.percent, t.tag) for t in targets}
    current = {
        (t.revision or live.latest_ready_revision, t.percent, t.tag)
        for t in live.traffic
        if t.percent or t.tag
    }
    if current != wanted:
        live = gcp_run.set_traffic(project, region, service_name, list(targets))
    return live


def _record(rollout, timeline, service_name: str, live) -> None:
    rollout.traffic[service_name] = traffic_split(live)
    timeline.append(
        (
            "traffic",
            f"{service_name}: {describe(rollout.traffic[service_name])}",
            {"service": service_name, "split": rollout.traffic[service_name]},
        )
    )


def describe(split: dict[str, int]) -> str:
    return ", ".join(f"{pct}% {rev}" for rev, pct in sorted(split.items(), key=lambda i: -i[1]))
