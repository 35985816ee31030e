"""The fingerprint itself must catch what it is there to catch."""

import os

import pytest

from support.fingerprint import assert_unchanged, fingerprint
from support.gitrepo import make_repo, run_git, write_files


def test_new_minion_refs_are_allowed_but_existing_ones_must_not_move(tmp_path):
    repo = make_repo(tmp_path / "r")
    run_git(repo, "branch", "minion/users-own-1")
    before = fingerprint(repo)
    run_git(repo, "branch", "minion/new-2")  # what a run adds: fine
    assert_unchanged(before, fingerprint(repo))
    write_files(repo, {"x.txt": "x\n"})
    run_git(repo, "add", "x.txt")
    tree = run_git(repo, "write-tree")
    moved = run_git(repo, "commit-tree", "-p", "HEAD", "-m", "m", tree)
    run_git(repo, "reset", "-q", "x.txt")
    (repo / "x.txt").unlink()
    run_git(repo, "update-ref", "refs/heads/minion/users-own-1", moved)
    with pytest.raises(AssertionError, match="minion/users-own-1"):
        assert_unchanged(before, fingerprint(repo))


def test_a_rewritten_file_with_the_same_bytes_counts(tmp_path):
    repo = make_repo(tmp_path / "r")
    before = fingerprint(repo)
    path = repo / "calc" / "ops.py"
    path.write_bytes(path.read_bytes())
    os.utime(path, ns=(1, 1))
    with pytest.raises(AssertionError, match="mtime_ns"):
        assert_unchanged(before, fingerprint(repo))
