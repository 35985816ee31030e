"""The fleet's connection settings: the user config (config.py's Settings) or the
environment, never a repository (those keys are USER_ONLY_KEYS)."""

from __future__ import annotations

import hashlib
import os
import re
import socket
from dataclasses import dataclass
from pathlib import Path

from ..config import Settings, load_settings, validate_settings
from ..errors import ConfigError, MinionError
from ..state import state_dir

INSTALL_HINT = "install the fleet extra: pip install -e '.[fleet]' in the minion checkout (make setup does)"


class FleetUnavailable(MinionError):
    """The fleet extra is not installed, or the Temporal server cannot be reached."""


def require_temporalio() -> None:
    try:
        import temporalio  # noqa: F401
    except ImportError:
        raise FleetUnavailable(f"the fleet needs the Python package temporalio: {INSTALL_HINT}") from None


# Settings of the machine a run executes on, not of the run: a worker takes its own (its
# user config), whatever the client's are. A client cannot turn a worker's sandbox or
# network on or off, point its model at another endpoint, or read its interpreter paths.
MACHINE_KEYS = frozenset({
    "sandbox", "network", "sandbox_allow", "python", "base_url", "prices", "push", "pool_size", "pool_disk_mb",
    "warm", "standby", "executor", "temporal_address", "temporal_namespace", "task_queue", "fleet_remote",
    "temporal_ui",
})


def run_settings(settings: Settings) -> dict:
    """A run's settings as they travel to a worker: without the client machine's own."""
    return {k: v for k, v in settings.model_dump(mode="json").items() if k not in MACHINE_KEYS}


def worker_settings(sent: dict, own: Settings) -> Settings:
    """A run's settings on a worker: the client's for the run, the worker's own for the
    machine; a cap is the lower of the two (a worker may lower a cap, never raise it)."""
    from ..config import CAP_KEYS

    mine = own.model_dump(mode="json")
    merged = {k: v for k, v in sent.items() if k not in MACHINE_KEYS}
    for key in CAP_KEYS:
        theirs, ours = merged.get(key), mine.get(key)
        if isinstance(theirs, (int, float)) and isinstance(ours, (int, float)):
            merged[key] = min(theirs, ours)
    merged.update({k: mine[k] for k in MACHINE_KEYS if k in mine})
    return validate_settings(merged, {})


@dataclass(frozen=True)
class FleetConfig:
    address: str
    namespace: str
    task_queue: str
    remote: str | None
    api_key: str | None  # MINION_TEMPORAL_API_KEY only (Temporal Cloud): never in a file minion reads
    tls: bool
    ui: str | None = None  # temporal_ui: the web UI's URL

    @property
    def ui_url(self) -> str:
        """The web UI: as set; Temporal Cloud's for a Cloud address; else the dev server's
        (its port is the frontend's + 1000, see `minion fleet dev`)."""
        if self.ui:
            return self.ui.rstrip("/")
        host, _, port = self.address.rpartition(":")
        if host.endswith(".tmprl.cloud"):
            return "https://cloud.temporal.io"
        try:
            return f"http://{host or '127.0.0.1'}:{int(port) + 1000}"
        except ValueError:
            return ""

    def run_url(self, workflow_id: str) -> str:
        return f"{self.ui_url}/namespaces/{self.namespace}/workflows/{workflow_id}" if self.ui_url else ""

    def need_remote(self) -> str:
        if not self.remote:
            raise ConfigError("the fleet needs fleet_remote (a git URL or a bare repository path) in your user "
                              "config or MINION_FLEET_REMOTE: snapshots and branches travel through it")
        return self.remote


def fleet_config(settings: Settings | None = None, *, task_queue: str | None = None) -> FleetConfig:
    """The fleet settings: the environment wins over the user config."""
    settings = settings or load_settings()
    env = os.environ
    api_key = env.get("MINION_TEMPORAL_API_KEY") or None
    return FleetConfig(
        address=env.get("MINION_TEMPORAL_ADDRESS") or settings.temporal_address,
        namespace=env.get("MINION_TEMPORAL_NAMESPACE") or settings.temporal_namespace,
        task_queue=task_queue or env.get("MINION_TASK_QUEUE") or settings.task_queue,
        remote=env.get("MINION_FLEET_REMOTE") or settings.fleet_remote,
        api_key=api_key,
        tls=bool(api_key) or env.get("MINION_TEMPORAL_TLS", "") not in ("", "0", "false"),
        ui=env.get("MINION_TEMPORAL_UI") or settings.temporal_ui,
    )


def fleet_dir() -> Path:
    path = state_dir() / "fleet"
    path.mkdir(mode=0o700, exist_ok=True)
    return path


def mirror_dir(remote: str) -> Path:
    """A worker's warm mirror of one fleet remote."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", remote.rstrip("/").rsplit("/", 1)[-1])[-40:] or "remote"
    digest = hashlib.sha256(remote.encode()).hexdigest()[:12]
    return fleet_dir() / "mirrors" / f"{name}-{digest}"


def default_worker_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def workflow_id(run_id: str) -> str:
    return f"minion-run-{run_id}"
