"""The judge alone, in the real sandbox, on a commit of a real repo: a crash or a timeout is
an error, not a fail, and its files never reach the repo."""

import pytest

from minion.config import Settings
from minion.eval.judge import run_judge
from minion.eval.runner import fresh_repo
from minion.eval.suite import load_task


@pytest.fixture
def judged(tmp_path):
    folder = tmp_path / "suite" / "t"
    (folder / "repo").mkdir(parents=True)
    (folder / "repo" / "answer.txt").write_text("42\n")
    (folder / "judge").mkdir()
    (folder / "judge" / "expected.txt").write_text("42\n")

    async def judge(check: str, timeout: float = 60):
        (folder / "task.toml").write_text(f'repo = "repo"\ninstruction = "x"\ntimeout = {timeout}\n'
                                          f"check = {check!r}\n")
        task = load_task(folder)
        work = tmp_path / f"work-{len(list(tmp_path.glob('work-*')))}"
        work.mkdir()
        repo = fresh_repo(task, work / "repo")
        verdict = await run_judge(task, repo, "HEAD", Settings(), work)
        assert not (repo / "expected.txt").exists()  # laid over the judge's own copy only
        return verdict

    return judge


async def test_the_judge_compares_with_its_own_files_in_the_sandbox(judged):
    verdict = await judged('test "$MINION_SANDBOX" = 1 && diff answer.txt expected.txt && echo same')
    assert verdict.outcome == "pass" and "same" in verdict.output
    verdict = await judged("echo 41 > answer.txt; diff answer.txt expected.txt")
    assert verdict.outcome == "fail" and verdict.exit_code == 1


async def test_a_judge_that_crashes_or_hangs_is_an_error(judged):
    verdict = await judged("no-such-judge-command")
    assert verdict.outcome == "error" and "command not found" in verdict.reason
    verdict = await judged("sleep 30", timeout=1)
    assert verdict.outcome == "error" and "timed out" in verdict.reason
