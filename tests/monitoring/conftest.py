from tests.deployments.conftest import make_release  # noqa: F401 - rollouts to show
