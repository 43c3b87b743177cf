"""The sandbox's whole world: one JSON-able dict behind one lock, optionally persisted.

Time-driven changes (operations finishing, VMs coming back from a reset) are applied
lazily by `settle()` whenever somebody looks, so there are no background threads.
"""

import json
import os
import threading
import time
from dataclasses import dataclass

from . import cloudrun_jobs, cloudrun_model, compute, storage
from .platform import Platform

CONTROL_PATHS = (
    "/sandbox/v1/state",
    "/sandbox/v1/requests",
    "/sandbox/v1/faults",
    "/sandbox/v1/api-faults",
    "/sandbox/v1/reset",
    "/sandbox/v1/prices",
)


@dataclass
class Options:
    rps: float = 20.0
    ready_delay: float = 2.0
    state_path: str | None = None


class State:
    """Thread-safe holder of the sandbox data; handlers take `state.lock` themselves."""

    def __init__(self, platform: Platform, options: Options):
        self.platform = platform
        self.options = options
        self.lock = threading.RLock()
        self.request_log: list[dict] = []
        self.jobs: dict = {}  # BigQuery jobs live in memory only: results are recomputable
        self.data: dict = {}
        if not self._load():
            self.reset()

    # --- lifecycle -----------------------------------------------------------------

    def reset(self) -> None:
        """Back to the seeded platform: no faults, no history, nothing pending."""
        with self.lock:
            now = time.time()
            self.data = {
                "seeded_at": now,
                "services": {},
                "revisions": {},
                "history": {},
                "run_ops": {},
                "instances": {},
                "zone_ops": {},
                "global_ops": {},
                "buckets": {},
                "sites": {},
                "cdn": {},
                "jobs": {},
                "executions": {},
                "request_ids": {},
                "faults": [],
                "site_faults": [],
                "vm_faults": [],
                "api_faults": [],
            }
            for env in self.platform.environments:
                cloudrun_model.seed(self, env, now)
                compute.seed(self, env, now)
                storage.seed(self, env, now)
                images = {
                    svc["short"]: svc["template"]["containers"][0]["image"]
                    for svc in self.data["services"].values()
                    if svc["project"] == env.project
                }
                cloudrun_jobs.seed(self, env, now, images)
            self.request_log.clear()
            self.jobs.clear()
            self.save()

    def settle(self) -> None:
        """Apply everything that became due (finished operations, finished resets)."""
        now = time.time()
        cloudrun_model.settle(self, now)
        compute.settle(self, now)
        storage.settle(self, now)

    # --- persistence ---------------------------------------------------------------

    def save(self) -> None:
        path = self.options.state_path
        if not path:
            return
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        tmp = f"{path}.tmp-{os.getpid()}"
        with open(tmp, "w") as fh:
            json.dump(self.data, fh)
        os.replace(tmp, path)  # atomic: a crash never leaves a half-written file

    def _load(self) -> bool:
        path = self.options.state_path
        if not path or not os.path.exists(path):
            return False
        with open(path) as fh:
            self.data = json.load(fh)
        # A state file from before the sandbox knew a world's part: seed that part fresh.
        return all(key in self.data for key in ("global_ops", "buckets", "sites", "cdn", "jobs"))

    # --- request log ---------------------------------------------------------------

    def log_request(self, entry: dict) -> None:
        if entry["path"].startswith(CONTROL_PATHS):
            return  # the log records what the app sent, not the tests' own control calls
        with self.lock:
            entry["seq"] = len(self.request_log)
            self.request_log.append(entry)

    def requests_since(self, since: int) -> list[dict]:
        with self.lock:
            return self.request_log[since:]
