"""The whole path in three editors: code action → command → progress → diagnostics on the
changed lines → "Apply this change" equals the branch's change → the user's repo untouched.

Real git, real bubblewrap, real SQLite, the scripted model; the server is `minion serve`.
"""

from pathlib import Path

import pytest
from lsprotocol import types
from pygls.uris import to_fs_path
from pytest_lsp.checks import LspSpecificationWarning

from support.fingerprint import assert_unchanged, fingerprint
from support.gitrepo import run_git
from support.script import done, replace, text, write_script

from lsp_session import (
    OPS, apply_text_edits, code_actions, edits_for, minion_diagnostics, open_file, run_command, session,
    settings, titled, until,
)

FIX = [[text("Make add() add."), replace("calc/ops.py", "return a - b", "return a + b")], done("add() now adds.")]


@pytest.mark.parametrize("profile", ["vscode", "neovim", "bare"])
async def test_todo_handed_off_comes_back_as_diagnostics_and_an_applicable_fix(profile, calc_repo, tmp_path, recwarn):
    before = fingerprint(calc_repo)
    model = write_script(tmp_path, FIX)
    async with session(calc_repo, profile, settings(model), answer="Open") as (client, recorder):
        uri = open_file(client, calc_repo / "calc/ops.py")

        # The TODO on line 1 offers a hand-off; the plain line below it does not.
        handoff = titled(await code_actions(client, uri, 1), "Hand off TODO to minion")
        assert handoff.kind == types.CodeActionKind.QuickFix
        assert not [a for a in await code_actions(client, uri, 2) if a.title.startswith("Hand off")]

        started = await run_command(client, handoff.command)
        assert started["status"] in ("queued", "running") and started["branch"].startswith("minion/make-add-add-")
        run_id, branch = started["runId"], started["branch"]

        found = await until(lambda: minion_diagnostics(client, uri), what="minion's diagnostics")
        [change] = found
        assert change.range.start.line == 2 and change.range.end.line == 2  # `return a - b`
        assert change.severity == types.DiagnosticSeverity.Information
        assert change.code == run_id and "add() now adds." in change.message
        if profile == "vscode":
            assert change.code_description and change.code_description.href.startswith("file://")
        else:  # neither Neovim 0.11 nor the bare client advertise codeDescription
            assert change.code_description is None

        _assert_progress_or_messages(client, recorder, profile, run_id)

        # "Apply this change" is exactly the branch's change to the file.
        fixes = await code_actions(client, uri, 2, diagnostics=[change])
        apply = titled(fixes, f"Apply this change (minion {run_id})")
        titled(fixes, f"Discard run {run_id}")
        edits, version = edits_for(apply.edit, uri)
        branch_file = run_git(calc_repo, "show", f"{branch}:calc/ops.py") + "\n"
        assert apply_text_edits(OPS, edits) == branch_file
        assert version == (1 if profile == "vscode" else None)  # Neovim 0.11 takes no documentChanges

        # "Apply all": resolved into an edit where the client resolves edits; otherwise a
        # command whose workspace/applyEdit carries the same change.
        apply_all = titled(fixes, f"Apply all changes of run {run_id}")
        if profile == "bare":
            assert await run_command(client, apply_all.command) == {"applied": 1, "skipped": 0}
            [all_edit] = recorder.applied_edits
        else:
            assert apply_all.edit is None and apply_all.command is None
            all_edit = (await client.code_action_resolve_async(apply_all)).edit
        assert apply_text_edits(OPS, edits_for(all_edit, uri)[0]) == branch_file

        # The end of the run was announced with what to do next; "Open" shows the report,
        # or names it to a client that cannot show documents.
        [announced] = await until(lambda: recorder.message_requests, what="the end-of-run message")
        assert run_id in announced.message and branch in announced.message
        assert [a.title for a in announced.actions] == ["Open", "Apply all", "Dismiss"]
        report = await until(lambda: _report_uri(client, run_id), what="the report to be shown")
        assert report.endswith(f"/reports/{run_id}.md")
        assert bool(client.shown_documents) == (profile != "bare")  # the bare client has no showDocument
        if profile == "vscode":
            assert report == change.code_description.href
        content = Path(to_fs_path(report)).read_text()
        assert "**ok**" in content and "### tests: passed" in content and "+    return a + b" in content

    assert_unchanged(before, fingerprint(calc_repo))
    assert not [w for w in recwarn if issubclass(w.category, LspSpecificationWarning)]


def _report_uri(client, run_id):
    if client.shown_documents:
        return client.shown_documents[-1].uri
    named = [m.message for m in client.messages if m.message.startswith(f"minion run {run_id}: file://")]
    return named[0].split(": ", 1)[1] if named else None


def _assert_progress_or_messages(client, recorder, profile, run_id):
    statuses = [s["status"] for s in recorder.run_status if s["id"] == run_id]
    assert statuses[-1] == "ok" and "running" in statuses
    if profile == "bare":
        assert not client.progress_reports
        assert any(f"minion started run {run_id}" in m.message for m in client.messages)
        return
    [reports] = [r for token, r in client.progress_reports.items() if run_id in str(token)]
    kinds = [r.kind for r in reports]
    assert kinds[0] == "begin" and kinds[-1] == "end" and "report" in kinds
    assert reports[0].cancellable
    nodes = [r.message for r in reports if r.kind == "report"]
    assert "implement…" in nodes and any(m.startswith("check: tests") for m in nodes)
    assert reports[-1].message.startswith("ok")
