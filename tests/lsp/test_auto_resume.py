"""With `resume = true`, a server that starts finds runs whose worker died and continues them."""

from minion.engine.create import RunRequest, create_run
from minion.runs.model import Status
from minion.runs.store import RunStore
from support.driver import drive
from support.gitrepo import run_git
from support.script import done, replace, text, write_script

from lsp_session import session, settings, until

FIX = [[text("Make add() add."), replace("calc/ops.py", "return a - b", "return a + b")], done("add() now adds.")]


async def test_server_resumes_interrupted_runs_when_asked(calc_repo, tmp_path):
    model = write_script(tmp_path, FIX)
    store = RunStore()
    record = create_run(RunRequest(task="fix add", repo=calc_repo, model=model, flags={"checks": {}}), store)
    assert drive(record.id, kill_after=0).returncode == -9  # died after gathering context
    assert store.get(record.id).status is Status.RUNNING

    async with session(calc_repo, "neovim", settings(model, resume=True)):
        final = await until(lambda: (r := store.get(record.id)).status is Status.OK and r, what="the run to resume")
    assert "return a + b" in run_git(calc_repo, "show", f"{final.branch}:calc/ops.py")
    assert [n.name for n in store.nodes(record.id)] == ["context", "implement", "commit"]


async def test_without_resume_an_interrupted_run_is_marked_lost(calc_repo, tmp_path):
    model = write_script(tmp_path, FIX)
    store = RunStore()
    record = create_run(RunRequest(task="fix add", repo=calc_repo, model=model, flags={"checks": {}}), store)
    assert drive(record.id, kill_after=0).returncode == -9

    async with session(calc_repo, "neovim", settings(model)):
        await until(lambda: store.get(record.id).status is Status.LOST, what="the run to be marked lost")
    assert "gone" in store.get(record.id).error
