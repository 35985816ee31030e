"""The README's blueprint section is executed as it is written: the newcomer's blueprint,
the pytest test of it (run by pytest, as its reader would), and the `minion blueprints`
listing it shows."""

import os
import re
import subprocess
import sys
from pathlib import Path

from support.gitrepo import make_repo

from minion.trust import trust_repo

README = Path(__file__).resolve().parents[2] / "README.md"


def section() -> str:
    text = README.read_text()
    return text[text.index("\n## Blueprints\n"):text.index("\n### Trusting a repo's blueprints\n")]


def code_blocks() -> list[tuple[str, str]]:
    return re.findall(r"```(\w+)\n(.*?)```", section(), re.S)


def files() -> dict[str, str]:
    """The python blocks that start with a path comment (``# tests/test_careful.py``)."""
    found = {}
    for language, body in code_blocks():
        first = body.splitlines()[0]
        if language == "python" and first.startswith("# ") and first.endswith(".py"):
            found[first[2:]] = body
    return found


def test_the_readme_has_the_example_and_its_test():
    assert {".minion/blueprints/careful.py", "tests/test_careful.py"} <= files().keys()


def test_the_readme_blueprint_passes_the_readme_test(tmp_path):
    project = make_repo(tmp_path / "project", files())
    tested = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_careful.py"],
                            cwd=project, capture_output=True, text=True, timeout=600)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "1 passed" in tested.stdout


def test_the_readme_listing_is_what_minion_blueprints_prints(tmp_path):
    project = make_repo(tmp_path / "project", files())
    trust_repo(project)
    [shown] = [body for language, body in code_blocks() if language == "text" and "built-in" in body]
    listed = subprocess.run([sys.executable, "-m", "minion.cli", "blueprints", "--repo", str(project)],
                            capture_output=True, text=True, env={**os.environ, "COLUMNS": "400"}, timeout=60)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout == shown
