"""The hidden judge: the task's ``check`` run in the sandbox on the run's result.

The agent never sees the judge: its files live in the suite, outside the task's repo, and
are laid over a fresh export of the result commit in a folder of the judge's own, which
the judge's sandbox shows at the repo's path (as a run's worktree is shown). The run's own
worktree is never touched.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

from ..blueprint.python_env import find_python_env
from ..config import Settings
from ..sandbox import Limits, Sandbox, SandboxPolicy
from .suite import Task

OUTPUT_TAIL = 4000  # of the judge's output, kept in the results

# Exit codes that say the judge itself could not run (not that the work is wrong).
CRASHED_EXIT = {126: "not executable", 127: "command not found"}


@dataclass
class Verdict:
    outcome: str  # "pass", "fail" or "error"
    exit_code: int | None
    output: str
    duration_s: float
    reason: str = ""  # why an error is one


def export_tree(repo: Path, commit: str, dest: Path) -> None:
    """The files of ``commit`` in ``dest``, without any git metadata."""
    archive = subprocess.run(["git", "-C", str(repo), "archive", "--format=tar", commit],
                             capture_output=True, check=True).stdout
    dest.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(dest, filter="tar")


def lay_over(files: Path, tree: Path) -> None:
    shutil.copytree(files, tree, dirs_exist_ok=True, symlinks=True)


async def run_judge(task: Task, repo: Path, commit: str, settings: Settings, workdir: Path) -> Verdict:
    """Judge ``commit`` of ``repo`` (the task's fresh repo, where setup ran) in the sandbox."""
    tree = workdir / "judge-tree"
    shutil.rmtree(tree, ignore_errors=True)
    export_tree(repo, commit, tree)
    if task.judge_files is not None:
        lay_over(task.judge_files, tree)
    python = find_python_env(repo, settings.python)
    policy = SandboxPolicy(
        repo_path=repo,  # shown at the repo's path; the repo's dependency folders (setup's venv) with it
        worktree=tree,
        home=workdir / "judge-home",
        dependency_dirs=list(settings.dependency_dirs),
        network=False,
        limits=Limits(timeout_s=task.timeout, memory_mb=settings.command_memory_mb),
        mode=settings.sandbox,
        allow=list(settings.sandbox_allow),
        git_history=0,
        python_env=python.prefix if python.outside_repo else None,
    )
    result = await Sandbox(policy).run(task.check, timeout_s=task.timeout)
    tail = result.output[-OUTPUT_TAIL:]
    if result.timed_out:
        why = f"the judge timed out after {task.timeout:g}s"
        return Verdict("error", result.exit_code, tail, result.duration_s, why)
    if result.exit_code in CRASHED_EXIT or result.exit_code < 0:
        why = CRASHED_EXIT.get(result.exit_code, f"killed by signal {-result.exit_code}")
        return Verdict("error", result.exit_code, tail, result.duration_s, f"the judge crashed: {why}")
    outcome = "pass" if result.exit_code == 0 else "fail"
    return Verdict(outcome, result.exit_code, tail, result.duration_s)
