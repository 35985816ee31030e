"""A run that changes files that run code on the user's machine (pytest's conftest.py, a
Makefile, editor and CI config, setup.py; `.envrc` matches the default `exclude`): the
editor gets a warning on each, before the change's own diagnostic, and the end-of-run
message names them all (a new one too); the report and the CLI result name them."""

import json
import subprocess
import sys

from lsprotocol import types

from minion.lsp.report import report_path
from support.gitrepo import run_git, write_files
from support.script import bash, done, replace, text, write_script

from lsp_session import code_actions, minion_diagnostics, open_file, run_command, session, settings, titled, until

SENSITIVE = {  # path -> what the warning says
    "conftest.py": "pytest runs it",
    "Makefile": "runs when you type make",
    ".vscode/settings.json": "editor config",
    ".github/workflows/ci.yml": "CI: runs with the repository's secrets",
    "setup.py": "runs on install",
}
SCRIPT = [[text("Fix add, and tune the setup."), replace("calc/ops.py", "return a - b", "return a + b"),
           *(replace(path, "SETUP = 1", "SETUP = 2") for path in SENSITIVE),
           bash("mkdir -p .vscode && echo '{}' > .vscode/tasks.json")],  # new: no file of the user's to mark
          done("add() adds; setup tuned.")]


async def test_each_sensitive_change_is_a_warning_listed_first(calc_repo, tmp_path):
    write_files(calc_repo, dict.fromkeys(SENSITIVE, "SETUP = 1\n"))
    run_git(calc_repo, "add", "-A")
    run_git(calc_repo, "commit", "-qm", "setup files")
    model = write_script(tmp_path, SCRIPT)
    async with session(calc_repo, "vscode", settings(model), answer="Dismiss") as (client, recorder):
        ops = open_file(client, calc_repo / "calc/ops.py")
        uris = {path: open_file(client, calc_repo / path) for path in SENSITIVE}
        started = await run_command(client, titled(await code_actions(client, ops, 1), "Hand off TODO to minion").command)
        for path, says in SENSITIVE.items():
            found = await until(lambda uri=uris[path]: len(minion_diagnostics(client, uri)) == 2
                                and minion_diagnostics(client, uri), what=f"minion's diagnostics on {path}")
            warning, change = found
            assert warning.severity == types.DiagnosticSeverity.Warning and says in warning.message, (path, warning)
            assert change.severity == types.DiagnosticSeverity.Information
        [on_ops] = minion_diagnostics(client, ops)
        assert on_ops.severity == types.DiagnosticSeverity.Information  # an ordinary change: no warning
        # The end-of-run message names them first, the added one too, as a warning.
        [announced] = await until(lambda: recorder.message_requests, what="the end-of-run message")
        assert announced.type == types.MessageType.Warning and "Review first:" in announced.message
        assert ".vscode/tasks.json" in announced.message
    run_id = started["runId"]
    shown = json.loads(subprocess.run([sys.executable, "-m", "minion.cli", "show", "--json", run_id],
                                      capture_output=True, text=True, check=True).stdout)
    assert sorted(c["path"] for c in shown["sensitive"]) == sorted([*SENSITIVE, ".vscode/tasks.json"])
    report = report_path(run_id).read_text()
    first = report.index("## Review these first")
    assert first < report.index("## Steps") and all(f"`{path}`" in report[first:] for path in SENSITIVE)
