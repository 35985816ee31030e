"""The user keeps typing while the run works: the run sees the text at delegation time, and
its result lands on the right lines of the text the user has now."""

from lsprotocol import types

from minion.runs.store import RunStore
from support.fingerprint import assert_unchanged, fingerprint
from support.gitrepo import run_git
from support.script import bash, done, replace, write_script

from lsp_session import (
    apply_text_edits, code_actions, edits_for, minion_diagnostics, open_file, run_command, session, settings,
    titled, until,
)

# Unsaved when the user delegates: the snapshot must hold it, not the file on disk.
AT_DELEGATION = "def add(a, b):\n    # TODO(minion): make add() add\n    return a - b  # unsaved\n"
# Typed while the run works: three lines on top.
TYPED_ON_TOP = "import math\n\n\n"


def change(client, uri, version, start_line, end_line, new_text):
    """A didChange replacing whole lines [start_line, end_line) with new_text."""
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
        content_changes=[types.TextDocumentContentChangePartial(
            range=types.Range(types.Position(line=start_line, character=0), types.Position(line=end_line, character=0)),
            text=new_text)],
    ))


async def test_result_follows_the_users_edits_and_the_fix_is_withheld_once_the_region_changed(calc_repo, tmp_path):
    before = fingerprint(calc_repo)
    model = write_script(tmp_path, [
        [bash("sleep 2")],  # the run is still working when the user types
        [replace("calc/ops.py", "return a - b  # unsaved", "return a + b  # unsaved")],
        done("add() now adds."),
    ])
    async with session(calc_repo, "vscode", settings(model)) as (client, recorder):
        uri = open_file(client, calc_repo / "calc/ops.py")
        change(client, uri, 2, 2, 3, "    return a - b  # unsaved\n")
        handoff = titled(await code_actions(client, uri, 1), "Hand off TODO to minion")
        started = await run_command(client, handoff.command)
        run_id = started["runId"]

        await until(lambda: RunStore().get(run_id).status.value == "running", what="the run to be working")
        change(client, uri, 3, 0, 0, TYPED_ON_TOP)
        assert RunStore().get(run_id).status.value == "running"  # the edit happened while the run worked

        snapshot = RunStore().get(run_id).snapshot
        assert run_git(calc_repo, "show", f"{snapshot}:calc/ops.py") + "\n" == AT_DELEGATION

        [moved] = await until(lambda: minion_diagnostics(client, uri), what="minion's diagnostics")
        assert moved.range.start.line == 5  # line 2 of the snapshot, 3 lines further down now

        now = TYPED_ON_TOP + AT_DELEGATION
        apply = titled(await code_actions(client, uri, 5, diagnostics=[moved]), "Apply this change")
        edits, version = edits_for(apply.edit, uri)
        assert version == 3
        assert apply_text_edits(now, edits) == TYPED_ON_TOP + AT_DELEGATION.replace("a - b", "a + b")

        # Once the user edits the changed line itself, the hunk no longer applies.
        change(client, uri, 4, 5, 6, "    return b - a\n")
        await until(lambda: recorder.diagnostics_version.get(uri) == 4, what="diagnostics for version 4")
        assert [d.range.start.line for d in minion_diagnostics(client, uri)] == [5]
        fixes = [a.title for a in await code_actions(client, uri, 5, diagnostics=minion_diagnostics(client, uri))]
        assert not [t for t in fixes if t.startswith("Apply this change")]
        assert f"Apply all changes of run {run_id}" in fixes and f"Discard run {run_id}" in fixes

        # Discarding clears the run's diagnostics and removes its worktree; its branch stays.
        discarded = await run_command(client, "minion.discard", run_id)
        assert discarded == {"runId": run_id, "discarded": True, "branchDeleted": False, "worktreeRemoved": True}
        await until(lambda: not minion_diagnostics(client, uri), what="the diagnostics to clear")
        assert run_git(calc_repo, "rev-parse", "--verify", "-q", f"refs/heads/{started['branch']}")

    assert_unchanged(before, fingerprint(calc_repo))

