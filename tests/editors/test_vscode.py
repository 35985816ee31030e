"""VS Code (code-server 4.100.3 = VS Code 1.100.3) with the packaged extension, driven in
Debian's headless Chromium, against the real server and the scripted model.

The test-only driver extension (vscode/driver) does the user's part inside the workbench
through the VS Code API and writes result.json; browser.js opens the workbench, types the
instruction and the feedback into the extension's input boxes, reads the runs view, clicks
a hunk's "Apply this change" in the diff, the runs view's actions and the discard dialog,
and takes the screenshots. The test itself starts a run with the CLI (`minion run`) while
the editor is open, and opens the gates the scripted runs wait at (a file in the run's
worktree), once the runs view has shown them working.
Set MINION_UPDATE_SCREENSHOT=1 to copy the screenshots to docs/ (vscode-quickfix.png,
vscode-runs.png, vscode-diff.png).
"""

import json
import os
import re
import signal
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from minion.runs.store import RunStore
from support.fingerprint import assert_unchanged, fingerprint
from support.gitrepo import run_git
from support.net import free_port
from support.script import bash, done, replace, text, write_script
from support.user_config import write_quiet_user_config

from .conftest import EDITORS, PYTHON, ROOT, SUMMARY, python_settings, run_editor

HERE = Path(__file__).parent / "vscode"
EXTENSION = EDITORS / "vscode"
VSCE = EXTENSION / "node_modules" / ".bin" / "vsce"
INSTRUCTION = "fix it"
SCREENSHOT = ROOT / "docs" / "vscode-quickfix.png"
RUNS_SCREENSHOT = ROOT / "docs" / "vscode-runs.png"
DIFF_SCREENSHOT = ROOT / "docs" / "vscode-diff.png"
VENV = Path(PYTHON).parent.parent  # the server accepts a virtualenv's folder as well
MINION = Path(PYTHON).parent / "minion"
CLI_TASK = "add a module docstring and neg()"
FEEDBACK = "also say what neg() returns"
GATE = ".minion-go"  # a run's bash waits for this file in its worktree, then deletes it
WAIT_AT_GATE = f"while [ ! -e {GATE} ]; do sleep 0.1; done; rm -f {GATE}"

# The editor's model, for every run it starts, by what the file holds (an agent looks
# first): the selection's run fixes add(); the TODO's waits at the gate, then fixes mul();
# the revision of the CLI's run (and the palette's run after it) documents neg().
EDITOR_TURNS = [
    [text("Fix what is wrong, or document neg()."),
     bash("if grep -q '^def neg' calc/ops.py && ! grep -q 'Minus a' calc/ops.py; then "
          "sed -i 's/^def neg(a):$/def neg(a):\\n    \"\"\"Minus a.\"\"\"/' calc/ops.py; "
          "elif grep -q 'return a - b' calc/ops.py; then sed -i 's/return a - b/return a + b/' calc/ops.py; "
          f"elif grep -q 'return 0$' calc/ops.py; then {WAIT_AT_GATE}; "
          "sed -i 's/return 0$/return a * b/' calc/ops.py; fi")],
    done(SUMMARY),
]
# The CLI's run: at the gate, then two hunks in calc/ops.py (a docstring on top, neg()
# between add() and mul()), far from the lines the editor's runs change.
CLI_TURNS = [
    [text("Wait for the go."), bash(WAIT_AT_GATE)],
    [text("A docstring and neg()."),
     replace("calc/ops.py", "def add(a, b):\n", '"""Small arithmetic."""\n\n\ndef add(a, b):\n'),
     replace("calc/ops.py", "\n\n\ndef mul(a, b):", "\n\n\ndef neg(a):\n    return -a\n\n\ndef mul(a, b):")],
    done("Added a docstring and neg()."),
]

pytestmark = pytest.mark.editor


def code_server() -> Path:
    """Where scripts/install-editors.sh put code-server."""
    script = (ROOT / "scripts" / "install-editors.sh").read_text()
    version = re.search(r"^CODE_SERVER_VERSION=(\S+)", script, re.M).group(1)
    xdg_cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    cache = os.environ.get("MINION_CI_CACHE") or xdg_cache / "minion-ci"
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


class Conductor(threading.Thread):
    """The test's side of the driver's ask-<what> files: `cli` starts `minion run` (a
    subprocess of the test, in the same repo) and answers its run id once it is in the run
    store; `release` opens the gates of the runs named (their worktrees' GATE files);
    `commits` says what git has on a run's branch."""

    def __init__(self, out: Path, cli: list[str], cwd: Path, env: dict[str, str]):
        super().__init__(daemon=True)
        self.out, self.argv, self.cwd, self.env = out, cli, cwd, env
        self.stopped = threading.Event()
        self.process: subprocess.Popen | None = None
        self.errors: list[str] = []

    def run(self) -> None:
        handled: set[str] = set()
        while not self.stopped.wait(0.1):
            for ask in self.out.glob("ask-*"):
                what = ask.name.removeprefix("ask-")
                if what in handled:
                    continue
                handled.add(what)
                try:
                    answer = getattr(self, what)(ask.read_text())
                except Exception as e:  # said to the driver, which fails with it
                    self.errors.append(f"{what}: {e!r}")
                    answer = {"error": repr(e)}
                (self.out / f"answer-{what}").write_text(json.dumps(answer))

    def cli(self, _: str) -> dict:
        known = {record.id for record in RunStore().recent()}
        self.process = subprocess.Popen(self.argv, cwd=self.cwd, env=self.env, stdin=subprocess.DEVNULL,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            new = [r for r in RunStore().recent() if r.id not in known and r.task == CLI_TASK]
            if new:
                return {"id": new[0].id}
            assert self.process.poll() is None, self.process.communicate()
            time.sleep(0.1)
        raise AssertionError("the CLI's run did not reach the run store")

    def release(self, ids: str) -> dict:
        for run_id in json.loads(ids):
            worktree = Path(RunStore().get(run_id).worktree or "")
            deadline = time.monotonic() + 60
            while not worktree.is_dir():
                assert time.monotonic() < deadline, f"run {run_id} has no worktree at {worktree}"
                time.sleep(0.1)
            (worktree / GATE).touch()
        return {"released": json.loads(ids)}

    def commits(self, detail: str) -> dict:
        """The commits of a run's branch over its base, newest first (git log)."""
        asked = json.loads(detail)
        base = RunStore().get(asked["runId"]).base
        log = run_git(self.cwd, "log", "--format=%H %s", f"{base}..refs/heads/{asked['branch']}")
        return {"base": base, "commits": log.splitlines()}

    def stop(self) -> subprocess.CompletedProcess | None:
        self.stopped.set()
        self.join(timeout=10)
        if self.process is None:
            return None
        try:
            out, err = self.process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            out, err = self.process.communicate()
        return subprocess.CompletedProcess(self.argv, self.process.returncode, out, err)


def worktrees(repo: Path) -> list[str]:
    """The worktrees git knows of the user's repository."""
    return [line.removeprefix("worktree ") for line in run_git(repo, "worktree", "list", "--porcelain").splitlines()
            if line.startswith("worktree ")]


def insertion_point(before: str, after: str, lines: list[str]) -> int | None:
    """The line of ``before`` where inserting ``lines`` gives ``after``, if that is all the
    edit did (wherever a diff would line up blank lines around them)."""
    old, new = before.splitlines(keepends=True), after.splitlines(keepends=True)
    if len(new) != len(old) + len(lines):
        return None
    return next((k for k in range(len(old) + 1) if old[:k] + lines + old[k:] == new), None)


def test_delegate_from_the_lightbulb_then_apply_the_quick_fix(calc_repo, extensions, tmp_path):
    before = fingerprint(calc_repo)
    model = write_script(tmp_path, EDITOR_TURNS, "editor.json")
    cli_model = write_script(tmp_path, CLI_TURNS, "cli.json")
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
    home = tmp_path / "home"  # code-server's own config and caches; minion's as in every test
    write_quiet_user_config(home / "config")
    env = {**os.environ, "XDG_CONFIG_HOME": str(home / "config"), "XDG_DATA_HOME": str(home / "data"),
           "XDG_CACHE_HOME": str(home / "cache"), "MINION_E2E_OUT": str(out),
           "MINION_E2E_PROJECT_PYTHON": str(VENV), "MINION_E2E_CLI_TASK": CLI_TASK, "MINION_E2E_FEEDBACK": FEEDBACK}
    port = free_port()
    config = tmp_path / "code-server.yaml"
    config.write_text(f"bind-addr: 127.0.0.1:{port}\nauth: none\ncert: false\n")
    base = [str(code_server()), "--config", str(config), "--user-data-dir", str(data),
            "--extensions-dir", str(installed)]

    for vsix in extensions:
        subprocess.run([*base, "--install-extension", str(vsix)], env=env, check=True, capture_output=True, timeout=120)
    server = subprocess.Popen([*base, "--disable-telemetry", "--disable-update-check", "--disable-workspace-trust"],
                              env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True, start_new_session=True)
    conductor = Conductor(out, [str(MINION), "run", "--json", "--model", cli_model, CLI_TASK],
                          calc_repo, env)
    conductor.start()
    try:
        wait_until_up(f"http://127.0.0.1:{port}/healthz", server)
        browser = run_editor(
            ["node", str(HERE / "browser.js"), f"http://127.0.0.1:{port}/?folder={calc_repo}", str(out),
             str(tmp_path / "screenshot.png"), INSTRUCTION],
            cwd=tmp_path, env={"NODE_PATH": str(EXTENSION / "node_modules")}, timeout=420)
    finally:
        cli = conductor.stop()
        os.killpg(server.pid, signal.SIGTERM)  # with its file watcher and extension host
        server.wait(timeout=30)
    assert browser.returncode == 0, browser.stderr
    result = json.loads((out / "result.json").read_text())
    assert not conductor.errors, conductor.errors
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
    # The runs view showed the TODO's run while it worked (at its gate: its node and turn),
    # then the CLI's run, started while the editor was open, in the same view, live.
    live = result["live"]
    assert re.search(r"^make mul\(\) multiply\s*implement · turn 1/\d+", live["todo"], re.M), live["todo"]
    assert re.search("^" + re.escape(CLI_TASK) + r"\s*implement · turn 1/\d+", live["cli"], re.M), live["cli"]
    assert cli is not None and cli.returncode == 0, cli
    cli_result = json.loads(cli.stdout)
    assert cli_result["id"] == live["cliId"] == result["cli"]["id"] and cli_result["status"] == "ok"
    # "Open Diff" opened the multi-file diff editor over the run's two sides (minion-run:
    # documents served from the server's minion.fileAt).
    review = result["review"]
    assert "make mul() multiply" in review["rows"], review
    assert re.search(r"^\d\d:\d\d:\d\d \S", review["log"], re.M), review["log"]  # its live log, in local time
    assert "error" not in review, review["error"]
    assert review["editor"] == "multiDiffEditor", review
    assert "return 0" in review["base"] and "return a * b" in review["head"], review
    assert "markdown.preview" in review["report"]["viewType"], review  # the report, rendered
    shots = {out / "runs.png": RUNS_SCREENSHOT, out / "diff.png": DIFF_SCREENSHOT}

    # The CLI's run has two hunks; its diff's hover applied the second alone: the user's
    # buffer got exactly that hunk's lines (the run's head side), nothing of the first.
    hunk = result["hunk"]
    assert hunk["editor"] == "multiDiffEditor", hunk
    first, second = hunk["hunks"]
    head_lines = hunk["head"].splitlines(keepends=True)
    assert "Apply this change" in hunk["hovered"] and "change 2 of 2" in hunk["hovered"], hunk["hovered"]
    second_lines = head_lines[second["head_start"]:second["head_start"] + second["head_count"]]
    assert insertion_point(hunk["before"], hunk["after"], second_lines) is not None, (hunk["before"], hunk["after"])
    assert hunk["after"].index("def add(") < hunk["after"].index("def neg(a):") < hunk["after"].index("def mul(")
    assert "Small arithmetic" not in hunk["after"]
    # The lenses and hovers follow: the second is applied, the first still offered.
    assert [lens["title"] for lens in hunk["lensesBefore"]] == ["$(check) Apply this change"] * 2, hunk
    assert hunk["lensesBefore"][1]["arguments"] == [cli_result["id"], second["index"]]
    assert [lens["title"] for lens in hunk["lensesAfter"]] == ["$(check) Apply this change", "$(check) Applied"], hunk
    assert "Applied" in hunk["hoverApplied"] and "command:" not in hunk["hoverApplied"], hunk["hoverApplied"]
    assert "Apply this change" in hunk["hoverPending"], hunk["hoverPending"]
    # Then the first, from the diff's context menu on its line: its lines alone land on top.
    assert "Apply This Change" in hunk["menu"].splitlines(), hunk["menu"]
    first_lines = head_lines[first["head_start"]:first["head_start"] + first["head_count"]]
    assert insertion_point(hunk["after"], hunk["afterMenu"], first_lines) == 0, (hunk["after"], hunk["afterMenu"])

    # Revised from the runs view: a new round on the same branch, one commit per round.
    revise, branch = result["revise"], cli_result["branch"]
    assert (revise["revises"], revise["branch"], revise["task"], revise["status"]) == \
        (cli_result["id"], branch, FEEDBACK, "ok")
    commits = result["commits"]
    assert commits["base"] == cli_result["base"]
    subjects = [line.split(" ", 1)[1] for line in commits["commits"]]
    assert subjects == [f"minion: {FEEDBACK}", f"minion: {CLI_TASK}"], commits
    assert commits["commits"][1].split(" ", 1)[0] == cli_result["head"]  # the first round's commit, under the second
    # Discarded from the runs view: the dialog named the branch; the branch and the
    # round's worktree are gone.
    discard = result["discard"]
    assert branch in discard["dialog"]["message"] and "worktree" in discard["dialog"]["message"], discard
    assert discard["id"] == revise["id"]
    assert run_git(calc_repo, "branch", "--list", branch) == ""
    for run_id in (cli_result["id"], revise["id"]):  # both rounds' worktrees
        worktree = RunStore().get(run_id).worktree
        assert worktree and worktree not in worktrees(calc_repo) and not Path(worktree).exists(), worktree
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
