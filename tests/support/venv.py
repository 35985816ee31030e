"""Real venvs for tests, made without the network."""

import subprocess
import sys
import sysconfig
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement


def make_venv(folder: Path) -> Path:
    """A real venv of the Python running this, without pip (nothing to install from the
    network); returns its site-packages."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    return next(folder.glob("lib/python3*/site-packages"))


def install_by_link(site_packages: Path, distribution: str) -> None:
    """Install ``distribution`` and what it requires into a venv by linking the files this
    Python has installed: as pip would have put them, without the network. The links point
    into minion's own environment, which the sandbox shows read-only."""
    ours = Path(sysconfig.get_paths()["purelib"])
    seen: set[str] = set()
    wanted = [distribution]
    while wanted:
        dist = metadata.distribution(wanted.pop())
        if dist.metadata["Name"].lower() in seen:
            continue
        seen.add(dist.metadata["Name"].lower())
        wanted += [r.name for r in map(Requirement, dist.requires or []) if not r.marker or r.marker.evaluate()]
        for top in {Path(str(f)).parts[0] for f in dist.files or []} - {"..", "__pycache__"}:
            if not (site_packages / top).exists():
                (site_packages / top).symlink_to(ours / top)
