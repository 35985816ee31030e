"""`minion sandbox explain`: the view a run would get, printed without making anything."""

import subprocess
import sys

from minion.state import state_dir
from support.fingerprint import assert_unchanged, fingerprint


def explain(repo, *args, env=None):
    return subprocess.run([sys.executable, "-m", "minion.cli", "sandbox", "explain", "--repo", str(repo), *args],
                          capture_output=True, text=True, env=env)


def test_explain_prints_every_mount_and_why_and_makes_nothing(repo, tmp_path, monkeypatch):
    shared = tmp_path / "shared docs"
    shared.mkdir()
    config = tmp_path / "xdg" / "minion" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(f'sandbox_allow = ["{shared}"]\n')
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    before = fingerprint(repo)

    done = explain(repo)

    assert done.returncode == 0, done.stderr
    text = done.stdout

    def row(path) -> str:
        return next(line for line in text.splitlines() if line.startswith(f"  {path} "))

    assert "the run's worktree" in row(repo)
    assert "read-only" in row("/usr") and "tmpfs" in row("/tmp") and "hidden" in row("/etc/shadow")
    assert "read-only" in row(shared) and "sandbox_allow" in row(shared)
    assert "the run's private HOME" in text and "Kernel filter" in text and "deny keyctl" in text
    assert "Network: none" in text and "PATH: " in text
    assert_unchanged(before, fingerprint(repo))
    assert not [p for p in state_dir().rglob("*") if p.is_file() or "<run>" in p.name]


def test_a_repository_cannot_widen_the_view(repo):
    (repo / ".minion").mkdir()
    (repo / ".minion" / "config.toml").write_text('sandbox_allow = ["/"]\n')
    done = explain(repo)
    assert done.returncode == 2
    assert "sandbox_allow can only be set in your user config" in done.stderr


def test_explain_says_when_there_is_no_sandbox(repo):
    done = explain(repo, "--sandbox", "none")
    assert done.returncode == 0 and "UNSANDBOXED" in done.stdout
