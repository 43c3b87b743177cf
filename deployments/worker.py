"""The RQ worker class (`settings.RQ["WORKER_CLASS"]`): the rollout engine preloaded.

RQ forks a work horse for every job. The engine and the Google client libraries are
imported here, once, in the worker process, so every horse starts with them loaded;
otherwise each job paid about half a second for the imports, several times per rollout.
"""

import importlib

from rq import Worker

PRELOAD = (
    "deployments.engine",
    "google.cloud.run_v2",
    "google.cloud.monitoring_v3",
    "google.cloud.compute_v1",
)


class DeployWorker(Worker):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Modules only: clients hold connections (gRPC channels) that must not cross a fork.
        for name in PRELOAD:
            importlib.import_module(name)
