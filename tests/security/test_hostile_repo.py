"""A hostile repository widens the view with what it commits: a dependency folder whose
`pyvenv.cfg` names a host folder as "the base Python" (the home, the host's /tmp with its
sockets, the host's /proc), a `pyvenv.cfg` that is a link to /dev/zero for the host to read
forever, and a config that asks for the whole git history."""

import subprocess
import sys
import time

from battery import agent_run, marker, run_sandbox
from support.gitrepo import run_git, write_files
from support.script import bash


def commit_all(repo, message: str) -> None:
    run_git(repo, "add", "-f", "-A")
    run_git(repo, "commit", "-qm", message)


async def test_a_committed_pyvenv_cfg_shows_no_host_folder(user_repo, fake_home, tmp_path, attacks):
    host_tmp = tmp_path / "host-tmp-marker"  # under the host's /tmp, which pytest's tmp_path is
    secret = marker("host-tmp")
    host_tmp.write_text(secret)
    token = marker("host-proc")
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", token])
    try:
        write_files(user_repo, {
            ".venv/pyvenv.cfg": f"home = {fake_home.path}/.ssh\n",
            "venv/pyvenv.cfg": "home = /tmp\n",
            "node_modules/pyvenv.cfg": "home = /proc\n",
        })
        commit_all(user_repo, "ship venvs")
        assert token in open(f"/proc/{sleeper.pid}/cmdline").read()  # positive control
        sandbox = run_sandbox(user_repo, tmp_path)
        out = (await sandbox.run("cat ~/.ssh/id_ed25519; cat " + str(fake_home.path) + "/.ssh/id_ed25519")).output
        attacks.check("repo: a pyvenv.cfg whose home is ~/.ssh", not fake_home.leaks(out), out)
        out = (await sandbox.run(f"cat '{host_tmp}'; ls /tmp")).output
        attacks.check("repo: a pyvenv.cfg whose home is the host's /tmp", secret not in out, out)
        out = (await sandbox.run("cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' ' '")).output
        attacks.check("repo: a pyvenv.cfg whose home is the host's /proc", token not in out, out[-300:])
        shown = [str(m.target) for m in sandbox.view().mounts if "base Python" in m.why]
        attacks.check("repo: none of them is shown as a toolchain", not shown, shown)
    finally:
        sleeper.kill()
        sleeper.wait()


async def test_a_pyvenv_cfg_linked_to_dev_zero_does_not_hang_the_host(user_repo, tmp_path, attacks):
    (user_repo / ".venv").mkdir()
    (user_repo / ".venv/pyvenv.cfg").symlink_to("/dev/zero")
    commit_all(user_repo, "ship a venv")
    sandbox = run_sandbox(user_repo, tmp_path)
    started = time.monotonic()
    result = await sandbox.run("echo alive")
    seconds = time.monotonic() - started
    attacks.check("repo: .venv/pyvenv.cfg -> /dev/zero read by the host", result.output == "alive\n" and seconds < 10,
                  (result.output, seconds))


async def test_a_repository_cannot_widen_the_git_window(user_repo, tmp_path, attacks):
    for i in range(60):
        write_files(user_repo, {"log.txt": f"{i}\n"})
        commit_all(user_repo, f"commit {i}")
    (user_repo / ".minion").mkdir()
    (user_repo / ".minion/config.toml").write_text("git_history = 100000\n")
    commit_all(user_repo, "ask for everything")
    sandbox = run_sandbox(user_repo, tmp_path)
    count = (await sandbox.run("git rev-list --count HEAD")).output.strip()
    assert int(run_git(user_repo, "rev-list", "--count", "HEAD")) > 60  # positive control: the history is there
    attacks.check("repo: git_history = 100000 in the repo's config", count.isdigit() and int(count) <= 51, count)


async def test_a_committed_dependency_folder_that_is_a_link_shows_nothing(user_repo, fake_home, tmp_path, attacks):
    """`.venv` committed as a link to the home's ~/.ssh: the host would bind the link's
    target into the sandbox, or (bwrap refusing to mount on the worktree's own link) every
    command of the run would fail."""
    (user_repo / ".venv").symlink_to(fake_home.path / ".ssh")
    (user_repo / "node_modules").symlink_to(fake_home.path)
    commit_all(user_repo, "ship links")
    assert fake_home.secrets[".ssh/id_ed25519"] in (user_repo / ".venv/id_ed25519").read_text()  # positive control
    sandbox = run_sandbox(user_repo, tmp_path)
    out = (await sandbox.run("cat .venv/id_ed25519 node_modules/.aws/credentials; echo alive")).output
    attacks.check("repo: a .venv and a node_modules that link into the home", not fake_home.leaks(out), out)
    attacks.check("repo: dependency folders that are links break every command", out.endswith("alive\n"), out)


async def test_a_linked_dependency_folder_is_named_in_the_run_log(user_repo, fake_home, tmp_path):
    (user_repo / ".venv").symlink_to(fake_home.path / ".ssh")
    commit_all(user_repo, "ship a link")
    run = await agent_run(user_repo, tmp_path, [[bash("echo hi")]])
    assert "the dependency folder .venv is a link in your repository" in run.log()
