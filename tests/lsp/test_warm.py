"""The language server gets its workspace ready for fast runs in the background: the worktree
pool is full once it has started, and full again after a run took worktrees from it."""

import os
from pathlib import Path

from minion.runs.store import RunStore
from minion.worktrees import Pool
from support.script import done, replace, text, write_script

from lsp_session import code_actions, open_file, run_command, session, settings, titled, until

FIX = [[text("Make add() add."), replace("calc/ops.py", "return a - b", "return a + b")], done("add() now adds.")]


def ready_slots(repo: Path) -> set[str]:
    return {slot.folder.name for slot in Pool(repo).slots() if slot.ready()}


async def test_the_pool_fills_at_start_and_again_after_a_run(calc_repo, tmp_path):
    user_config = Path(os.environ["XDG_CONFIG_HOME"]) / "minion" / "config.toml"
    user_config.write_text("warm = true\npool_size = 2\nstandby = 0\n")
    async with session(calc_repo, "vscode", settings(write_script(tmp_path, FIX)), answer="Open") as (client, _):
        first = await until(lambda: len(ready_slots(calc_repo)) == 2 and ready_slots(calc_repo),
                            what="a full pool after the server started")

        uri = open_file(client, calc_repo / "calc/ops.py")
        started = await run_command(client, titled(await code_actions(client, uri, 1), "Hand off TODO").command)
        await until(lambda: not RunStore().get(started["runId"]).status.active, what="the run's end")

        again = await until(lambda: len(ready_slots(calc_repo)) == 2 and ready_slots(calc_repo),
                            what="a full pool after the run")
        assert not first & again  # the run and its baseline took one each, `minion warm` made two more
