"""VS Code (code-server 4.100.3 = VS Code 1.100.3) with the packaged extension, driven in
Debian's headless Chromium, against the real server and the scripted model.

The test-only driver extension (vscode/driver) does the user's part inside the workbench
through the VS Code API and writes result.json; browser.js opens the workbench, types the
instruction into the extension's input box, reads the runs view and takes the screenshots.
Set MINION_UPDATE_SCREENSHOT=1 to copy them to docs/ (vscode-quickfix.png, vscode-runs.png,
vscode-diff.png).
"""

import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from support.fingerprint import assert_unchanged, fingerprint
from support.gitrepo import run_git

from .conftest import EDITORS, PYTHON, ROOT, SUMMARY, python_settings, run_editor

HERE = Path(__file__).parent / "vscode"
EXTENSION = EDITORS / "vscode"
VSCE = EXTENSION / "node_modules" / ".bin" / "vsce"
INSTRUCTION = "fix it"
SCREENSHOT = ROOT / "docs" / "vscode-quickfix.png"
RUNS_SCREENSHOT = ROOT / "docs" / "vscode-runs.png"
DIFF_SCREENSHOT = ROOT / "docs" / "vscode-diff.png"
VENV = Path(PYTHON).parent.parent  # the server accepts a virtualenv's folder as well

pytestmark = pytest.mark.editor


def code_server() -> Path:
    """Where scripts/install-editors.sh put code-server."""
    script = (ROOT / "scripts" / "install-editors.sh").read_text()
    version = re.search(r"^CODE_SERVER_VERSION=(\S+)", script, re.M).group(1)
    cache = os.environ.get("MINION_CI_CACHE") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "minion-ci"
    path = Path(cache) / f"code-server-{version}" / "node_modules" / ".bin" / "code-server"
    assert path.exists(), f"{path} is missing: run scripts/install-editors.sh"
    return path


def build(argv: list[str], cwd: Path) -> None:
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, f"{' '.join(argv)} failed:\n{done.stdout}\n{done.stderr}"


@pytest.fixture(scope="module")
def extensions(tmp_path_factory) -> list[Path]:
    """The minion extension, compiled and packaged as users get it, and the driver."""
    out = tmp_path_factory.mktemp("vsix")
    minion, driver = out / "minion.vsix", out / "driver.vsix"
    build(["npm", "run", "package", "--", "--out", str(minion)], EXTENSION)  # compiles first
    build([str(VSCE), "package", "--skip-license", "--allow-missing-repository", "--out", str(driver)], HERE / "driver")
    return [minion, driver]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(url: str, server: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert server.poll() is None, f"code-server exited: {server.stderr.read()}"
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"code-server did not answer on {url} within {timeout}s")


def test_delegate_from_the_lightbulb_then_apply_the_quick_fix(calc_repo, model, extensions, tmp_path):
    before = fingerprint(calc_repo)
    data, installed, out = tmp_path / "data", tmp_path / "extensions", tmp_path / "out"
    out.mkdir()
    (data / "User").mkdir(parents=True)
    (data / "User" / "settings.json").write_text(json.dumps({
        "security.workspace.trust.enabled": False,
        "workbench.startupEditor": "none",
        "workbench.tips.enabled": False,
        "telemetry.telemetryLevel": "off",
        "files.autoSave": "off",  # on by default in VS Code for the web: applied fixes would be saved
        "extensions.autoCheckUpdates": False,
        "minion.python": PYTHON,
        "minion.projectPython": PYTHON,  # the driver changes it to the venv's folder
        "minion.model": model,
        "minion.todoPatterns": ["FIXME(minion)"],  # the driver changes it to TODO(minion)
    }))
    home = tmp_path / "home"  # code-server's own config and caches
    env = {**os.environ, "XDG_CONFIG_HOME": str(home / "config"), "XDG_DATA_HOME": str(home / "data"),
           "XDG_CACHE_HOME": str(home / "cache"), "MINION_E2E_OUT": str(out),
           "MINION_E2E_PROJECT_PYTHON": str(VENV)}
    port = free_port()
    config = tmp_path / "code-server.yaml"
    config.write_text(f"bind-addr: 127.0.0.1:{port}\nauth: none\ncert: false\n")
    base = [str(code_server()), "--config", str(config), "--user-data-dir", str(data), "--extensions-dir", str(installed)]

    for vsix in extensions:
        subprocess.run([*base, "--install-extension", str(vsix)], env=env, check=True, capture_output=True, timeout=120)
    server = subprocess.Popen([*base, "--disable-telemetry", "--disable-update-check", "--disable-workspace-trust"],
                              env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True, start_new_session=True)
    try:
        wait_until_up(f"http://127.0.0.1:{port}/healthz", server)
        browser = run_editor(
            ["node", str(HERE / "browser.js"), f"http://127.0.0.1:{port}/?folder={calc_repo}", str(out),
             str(tmp_path / "screenshot.png"), INSTRUCTION],
            cwd=tmp_path, env={"NODE_PATH": str(EXTENSION / "node_modules")}, timeout=300)
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # with its file watcher and extension host
        server.wait(timeout=30)
    assert browser.returncode == 0, browser.stderr
    result = json.loads((out / "result.json").read_text())
    assert result["ok"], result["error"]

    assert "Delegate to minion…" in result["lightbulb"]
    assert result["handOffBeforeSettingChange"] is False  # the settings reached the server
    # minion.projectPython reached the server as `python`: at the start, and once changed.
    sent = python_settings()
    assert (sent[result["fix"]["id"]], sent[result["todo"]["id"]]) == (PYTHON, str(VENV))
    assert result["instructionTask"] == INSTRUCTION  # typed into the extension's input box
    for run, line in ((result["fix"], 1), (result["todo"], 6)):
        assert run["status"] == "ok"
        assert (run["line"], run["severity"]) == (line, "Information")
        assert SUMMARY in run["message"]
        assert run["text"] == run_git(calc_repo, "show", f"{run['branch']}:calc/ops.py") + "\n"
    assert "return a + b" in result["fix"]["text"] and "return a * b" in result["todo"]["text"]
    # The runs view showed the TODO's run; "Open Diff" opened the multi-file diff editor over
    # the run's two sides (minion-run: documents served from the server's minion.fileAt).
    review = result["review"]
    assert "make mul() multiply" in review["rows"], review
    assert re.search(r"^\d\d:\d\d:\d\d \S", review["log"], re.M), review["log"]  # its live log, in local time
    assert "error" not in review, review["error"]
    assert review["editor"] == "multiDiffEditor", review
    assert "return 0" in review["base"] and "return a * b" in review["head"], review
    assert "markdown.preview" in review["report"]["viewType"], review  # the report, rendered
    shots = {out / "runs.png": RUNS_SCREENSHOT, out / "diff.png": DIFF_SCREENSHOT}
    palette = result["palette"]
    assert palette["task"] == "document mul()" and palette["branch"] == palette["runBranch"]

    shot = (tmp_path / "screenshot.png").read_bytes()
    assert shot.startswith(b"\x89PNG") and len(shot) > 20_000
    if os.environ.get("MINION_UPDATE_SCREENSHOT"):
        SCREENSHOT.write_bytes(shot)
    for taken, docs in shots.items():
        assert taken.read_bytes().startswith(b"\x89PNG"), taken
        if os.environ.get("MINION_UPDATE_SCREENSHOT"):
            docs.write_bytes(taken.read_bytes())
    assert_unchanged(before, fingerprint(calc_repo))
