"""Expected failures of deployment service functions, each with a message a person can act on.

Views and the API map them to responses: DeploymentError → 400, Conflict → 409,
OverBudget → 422, django's PermissionDenied → 403. Nothing has changed when one is raised.
"""


class DeploymentError(Exception):
    """The request breaks a rule (wrong state, promotion rule, bad input)."""

    status = 400

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class Conflict(DeploymentError):
    """The request collides with something that exists (a release version)."""

    status = 409


class RolloutConflict(Conflict):
    """Another rollout is already active in the environment."""


class OverBudget(DeploymentError):
    """The environment blocks rollouts while its forecast is over its target, and no
    approver's override (with a reason) came with this one."""

    status = 422
