"""The worktree pool: a pooled worktree is exactly what a fresh checkout of the snapshot is.

Each test compares a run's worktree taken from the pool with one `git worktree add` makes
of the same snapshot: every file's bytes, type, exec bit and link target, the index
(entries, modes, skip-worktree flags), HEAD, and git's view of the folder.
"""

import os
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from minion.snapshot import take_snapshot
from minion.state import worktrees_dir
from minion.worktrees import Pool, check_out
from support.fingerprint import assert_unchanged, fingerprint
from support.gitrepo import make_repo, run_git, write_files

EXCLUDE = [".env*", "*.pem"]


def tree_of(folder: Path) -> dict[str, tuple]:
    """Every path under ``folder`` but its .git file: (kind, exec bit, bytes or target)."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            rel = path.relative_to(folder).as_posix()
            if rel == ".git":
                continue
            st = path.lstat()
            if stat.S_ISLNK(st.st_mode):
                found[rel] = ("link", os.readlink(path))
            elif stat.S_ISDIR(st.st_mode):
                found[rel] = ("dir",)
            else:
                found[rel] = ("file", bool(st.st_mode & stat.S_IXUSR), path.read_bytes())
    return found


def git_view(worktree: Path) -> dict[str, str]:
    return {
        "HEAD": run_git(worktree, "rev-parse", "HEAD"),
        "detached": run_git(worktree, "rev-parse", "--abbrev-ref", "HEAD"),
        "index": run_git(worktree, "ls-files", "-s", "-v"),  # -v: skip-worktree shows as S
        "status": run_git(worktree, "status", "--porcelain", "--ignored", "-uall"),
    }


def assert_same_checkout(pooled: Path, fresh: Path) -> None:
    assert tree_of(pooled) == tree_of(fresh)
    assert git_view(pooled) == git_view(fresh)


def fresh_checkout(repo: Path, commit: str, folder: Path) -> Path:
    """What `git worktree add` makes, with the exclude list hidden as minion hides it."""
    run_git(repo, "worktree", "add", "-q", "--detach", str(folder), commit)
    listed = run_git(folder, "ls-files", ".env", "*.pem").split()
    if listed:
        run_git(folder, "update-index", "--skip-worktree", *listed)
        for rel in listed:
            (folder / rel).unlink()
    return folder


@pytest.fixture
def rich_repo(tmp_path) -> Path:
    """Submodule, symlinks, exec bits, CRLF under text=auto, excluded and ignored files."""
    library = make_repo(tmp_path / "library", {"lib.py": "x = 1\n"})
    repo = make_repo(tmp_path / "repo", {
        ".gitattributes": "* text=auto\n*.bat text eol=crlf\n",
        ".gitignore": "build/\n",
        "src/app.py": "print('app')\n",
        "src/old.py": "gone soon\n",
        "windows.bat": "@echo off\r\necho hi\r\n",
        "notes.txt": "line one\nline two\n",
        "run.sh": "#!/bin/sh\necho run\n",
        "target.txt": "the target\n",
        ".env": "SECRET=1\n",
        "certs/server.pem": "-----BEGIN-----\n",
    })
    # A file committed with CRLF bytes before text=auto saw it: git keeps it as it is.
    (repo / "legacy.txt").write_bytes(b"crlf\r\nkept\r\n")
    run_git(repo, "-c", "core.autocrlf=false", "update-index", "--add", "--chmod=-x", "legacy.txt")
    os.chmod(repo / "run.sh", 0o755)
    os.symlink("target.txt", repo / "link")
    os.symlink("nowhere", repo / "dangling")
    run_git(repo, "add", "-A")
    run_git(repo, "-c", "protocol.file.allow=always", "submodule", "-q", "add", str(library), "vendor/library")
    run_git(repo, "commit", "-q", "-m", "rich")
    return repo


def make_dirty(repo: Path) -> None:
    """Every kind of change a snapshot records."""
    write_files(repo, {"src/app.py": "print('changed')\n", "src/new.py": "new = True\n",
                       "notes.txt": "line one\r\nnow crlf\r\n", "build/out.o": b"\x7fELF ignored output"})
    (repo / "src" / "old.py").unlink()
    os.chmod(repo / "run.sh", 0o644)
    os.chmod(repo / "target.txt", 0o755)
    os.symlink("src/app.py", repo / "new-link")
    (repo / "link").unlink()
    os.symlink("notes.txt", repo / "link")


def test_a_pooled_worktree_equals_a_fresh_checkout_of_the_snapshot(rich_repo, tmp_path):
    pool = Pool(rich_repo)
    assert len(pool.fill(size=1, disk_mb=100)) == 1
    make_dirty(rich_repo)
    before = fingerprint(rich_repo)

    snapshot = take_snapshot(rich_repo, "pooled1", worktrees_dir=worktrees_dir(), exclude=EXCLUDE)

    assert pool.slots() == []  # it came from the pool
    fresh = fresh_checkout(rich_repo, snapshot.commit, tmp_path / "fresh")
    assert_same_checkout(snapshot.worktree, fresh)
    assert (snapshot.worktree / "vendor" / "library").is_dir()  # the submodule, empty as in any fresh clone
    assert "S .env" in run_git(snapshot.worktree, "ls-files", "-v", ".env")
    assert str(snapshot.worktree) in run_git(rich_repo, "worktree", "list", "--porcelain")
    assert_unchanged(before, fingerprint(rich_repo))


def test_a_worktree_pooled_at_an_older_commit_catches_up(rich_repo, tmp_path):
    Pool(rich_repo).fill(size=1, disk_mb=100)
    write_files(rich_repo, {"src/later.py": "later\n", "windows.bat": "@echo off\r\necho later\r\n"})
    run_git(rich_repo, "rm", "-q", "notes.txt")
    run_git(rich_repo, "add", "-A")
    run_git(rich_repo, "commit", "-q", "-m", "moved on")
    make_dirty(rich_repo)

    snapshot = take_snapshot(rich_repo, "older1", worktrees_dir=worktrees_dir(), exclude=EXCLUDE)

    assert Pool(rich_repo).slots() == []
    assert_same_checkout(snapshot.worktree, fresh_checkout(rich_repo, snapshot.commit, tmp_path / "fresh"))


def test_a_changed_gitattributes_retires_the_pooled_worktree(rich_repo, tmp_path):
    """Files the update would keep are written with other line endings by a fresh checkout."""
    Pool(rich_repo).fill(size=1, disk_mb=100)
    (rich_repo / ".gitattributes").write_text("* text=auto eol=crlf\n")

    snapshot = take_snapshot(rich_repo, "attrs1", worktrees_dir=worktrees_dir(), exclude=EXCLUDE)

    assert Pool(rich_repo).slots() == []  # retired, not kept for later
    assert (snapshot.worktree / "src" / "app.py").read_bytes() == b"print('app')\r\n"
    assert_same_checkout(snapshot.worktree, fresh_checkout(rich_repo, snapshot.commit, tmp_path / "fresh"))


def test_changed_checkout_config_retires_the_pooled_worktree(rich_repo, tmp_path):
    Pool(rich_repo).fill(size=1, disk_mb=100)
    run_git(rich_repo, "config", "core.eol", "crlf")

    snapshot = take_snapshot(rich_repo, "config1", worktrees_dir=worktrees_dir(), exclude=EXCLUDE)

    assert Pool(rich_repo).slots() == []  # retired, not kept for later
    assert (snapshot.worktree / "src" / "app.py").read_bytes() == b"print('app')\r\n"
    assert_same_checkout(snapshot.worktree, fresh_checkout(rich_repo, snapshot.commit, tmp_path / "fresh"))


def test_fill_keeps_the_pool_at_head_within_its_size_and_disk_budget(rich_repo):
    pool = Pool(rich_repo)
    assert [line.split()[0] for line in pool.fill(size=2, disk_mb=100)] == ["checked", "checked"]
    assert pool.fill(size=2, disk_mb=100) == []  # full, at HEAD already

    write_files(rich_repo, {"src/app.py": "print('v2')\n"})
    run_git(rich_repo, "commit", "-q", "-am", "v2")
    head = run_git(rich_repo, "rev-parse", "HEAD")
    assert [line.split()[0] for line in pool.fill(size=1, disk_mb=100)] == ["moved", "retired"]
    (slot,) = pool.slots()
    assert slot.ready()["commit"] == head
    assert (slot.folder / "src" / "app.py").read_text() == "print('v2')\n"
    assert run_git(slot.folder, "status", "--porcelain") == ""

    assert pool.fill(size=3, disk_mb=0) == []  # no room for another one
    assert len(pool.slots()) == 1


def test_two_runs_never_take_the_same_worktree(rich_repo, tmp_path):
    Pool(rich_repo).fill(size=1, disk_mb=100)
    head = run_git(rich_repo, "rev-parse", "HEAD")
    results = {}

    def take(name):
        results[name] = check_out(rich_repo, head, tmp_path / name)

    threads = [threading.Thread(target=take, args=(f"run{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(results.values()) == [False, False, False, True]
    for name in results:  # every one got a complete checkout all the same
        assert (tmp_path / name / "src" / "app.py").read_text() == "print('app')\n"
        assert run_git(tmp_path / name, "status", "--porcelain") == ""


def test_a_slot_claimed_by_a_taker_that_died_is_cleaned_up(rich_repo):
    pool = Pool(rich_repo)
    pool.fill(size=1, disk_mb=100)
    (slot,) = pool.slots()
    slot.marker.unlink()  # what a taker does first; then it was killed

    assert [line.split()[0] for line in pool.fill(size=1, disk_mb=100)] == ["retired", "checked"]
    assert not slot.folder.exists()
    assert str(slot.folder) not in run_git(rich_repo, "worktree", "list", "--porcelain")


def test_minion_clean_empties_the_pool(rich_repo):
    from minion.runs.cleanup import clean
    from minion.runs.store import RunStore

    pool = Pool(rich_repo)
    pool.fill(size=2, disk_mb=100)
    folders = [slot.folder for slot in pool.slots()]

    report = clean(RunStore(), delete_branches=[])

    assert sum("pooled worktree" in line for line in report) == 2
    assert pool.slots() == []
    listing = run_git(rich_repo, "worktree", "list", "--porcelain")
    assert not any(str(folder) in listing for folder in folders)


def test_an_unborn_repository_has_no_pool(tmp_path):
    repo = make_repo(tmp_path / "unborn", {"a.txt": "a\n"}, commit=False)
    assert Pool(repo).fill(size=2, disk_mb=100) == []


def test_the_cli_warms_a_repository(rich_repo):
    done = subprocess.run([sys.executable, "-m", "minion.cli", "warm", "--repo", str(rich_repo), "--wait"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert len(Pool(rich_repo).slots()) == 2  # the default pool size


def test_minion_run_refills_the_pool_after_its_run(rich_repo, tmp_path):
    user_config = Path(os.environ["XDG_CONFIG_HOME"]) / "minion" / "config.toml"
    user_config.write_text("warm = true\nstandby = 0\npool_size = 1\nchecks = {}\n")
    Pool(rich_repo).fill(size=1, disk_mb=100)
    (before,) = Pool(rich_repo).slots()
    model = tmp_path / "script.json"
    model.write_text('[[{"type": "text", "text": "Nothing to do."}]]')

    done = subprocess.run([sys.executable, "-m", "minion.cli", "run", "--repo", str(rich_repo), "--model",
                           f"scripted:{model}", "--sandbox", "none", "look around"],
                          capture_output=True, text=True, check=False)

    assert done.returncode == 0, done.stderr
    deadline = time.monotonic() + 60
    while not [s for s in Pool(rich_repo).slots() if s.ready() and s.folder != before.folder]:
        assert time.monotonic() < deadline, "the pool was not refilled"
        time.sleep(0.1)
    assert not before.folder.exists()  # the run took it
