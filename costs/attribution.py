"""Which environment and component a billing row belongs to.

Environment: the one whose cost_labels all match the row's resource labels; else the
one whose gcp_project is the row's project id; else none (unallocated, never hidden).
Component: the environment's service named by the row's component label; else the
GCP service description; "(none)" for rows without a service (tax, some adjustments).
"""

from platform_admin.models import Environment, PlatformSettings

NO_SERVICE = "(none)"


class Attributor:
    """Attribution rules of the environments as they are now; build one per import."""

    def __init__(self, environments=None, component_label: str | None = None):
        # The label naming a row's component: the platform file's [billing] component_label.
        self.component_label = component_label or PlatformSettings.load().component_label
        envs = list(
            environments
            if environments is not None
            else Environment.objects.prefetch_related("services")
        )
        # Environments without cost_labels never match by labels (all() of nothing).
        self.by_labels = [(env.pk, dict(env.cost_labels)) for env in envs if env.cost_labels]
        self.by_project: dict[str, int] = {}
        for env in envs:
            self.by_project.setdefault(env.gcp_project, env.pk)
        self.services: dict[int, set[str]] = {env.pk: set() for env in envs}
        for env in envs:
            self.services[env.pk] = {s.name for s in env.services.all()}

    def environment(self, project_id: str, labels: dict[str, str]) -> int | None:
        for env_id, wanted in self.by_labels:
            if all(labels.get(key) == str(value) for key, value in wanted.items()):
                return env_id
        return self.by_project.get(project_id) if project_id else None

    def component(self, env_id: int | None, labels: dict[str, str], service: str) -> str:
        name = labels.get(self.component_label)
        if env_id is not None and name in self.services.get(env_id, ()):
            return name
        return service or NO_SERVICE

    def attribute(self, project_id: str, labels: dict[str, str], service: str):
        """(environment id or None, component) of a row."""
        env_id = self.environment(project_id, labels)
        return env_id, self.component(env_id, labels, service)
