"""Snapshot, worktree, result commit, diffs and hunks, against real git repos.

Every test that takes a snapshot goes through ``snap()``, which asserts that the user's
repository is byte-for-byte unchanged (tests/support/fingerprint.py).
"""

import os
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from minion.errors import MinionError, NotAGitRepository
from minion.git import GitError, git
from minion.snapshot import (
    BranchMoved,
    Hunk,
    Snapshot,
    changed_files,
    commit_result,
    diff,
    diffstat,
    find_repo_root,
    hunks,
    slugify,
    take_snapshot,
)
from minion.worktrees import remove_worktree
from support.fingerprint import assert_unchanged, fingerprint
from support.gitrepo import make_repo, run_git, write_files

# --- helpers -----------------------------------------------------------------------------


@pytest.fixture
def worktrees(tmp_path) -> Path:
    return tmp_path / "state worktrees"


def snap(repo: Path, worktrees: Path, run_id: str = "run1", **kwargs) -> Snapshot:
    """take_snapshot, asserting the user's repo did not change at all."""
    before = fingerprint(repo)
    snapshot = take_snapshot(repo, run_id, worktrees_dir=worktrees, **kwargs)
    assert_unchanged(before, fingerprint(repo))
    return snapshot


def tree(repo: Path, rev: str) -> dict[str, tuple[str, bytes]]:
    """path -> (mode, content) of every entry of a commit; a gitlink's content is its oid."""
    out = subprocess.run(["git", "-C", str(repo), "ls-tree", "-r", "-z", "--full-tree", rev],
                         capture_output=True, check=True).stdout
    result = {}
    for record in filter(None, out.split(b"\0")):
        meta, path = record.split(b"\t", 1)
        mode, kind, oid = meta.decode().split()
        if kind == "commit":
            content = oid.encode()
        else:
            content = subprocess.run(["git", "-C", str(repo), "cat-file", "blob", oid],
                                     capture_output=True, check=True).stdout
        result[os.fsdecode(path)] = (mode, content)
    return result


def files(root: Path) -> dict[str, bytes]:
    """Every file and symlink under root but .git: path -> bytes (a link: b"-> target")."""
    result = {}
    for folder, dirs, names in os.walk(root):
        if Path(folder) == root and ".git" in dirs + names:
            (dirs if ".git" in dirs else names).remove(".git")
        for name in dirs + names:
            path = Path(folder, name)
            rel = path.relative_to(root).as_posix()
            if path.is_symlink():
                result[rel] = b"-> " + os.readlink(os.fsencode(path))
            elif path.is_file():
                result[rel] = path.read_bytes()
    return result


def head(repo: Path) -> str:
    return run_git(repo, "rev-parse", "HEAD")


def parents(repo: Path, rev: str) -> list[str]:
    return run_git(repo, "rev-list", "--parents", "-n1", rev).split()[1:]


def expected_worktree(repo: Path, ignored: set[str] = frozenset()) -> dict[str, bytes]:
    return {p: c for p, c in files(repo).items() if p not in ignored}


# --- git.py ------------------------------------------------------------------------------


def test_git_error_names_the_command_and_gits_message(repo):
    with pytest.raises(GitError) as err:
        git("rev-parse", "--verify", "no-such-rev", cwd=repo)
    assert isinstance(err.value, MinionError)
    assert "git rev-parse --verify no-such-rev" in str(err.value)
    assert "fatal: Needed a single revision" in str(err.value)
    assert err.value.returncode == 128


def test_git_strips_the_final_newline_only(repo):
    assert git("rev-parse", "HEAD", cwd=repo) == head(repo)
    assert git("cat-file", "-p", "HEAD:calc/ops.py", cwd=repo) == "def add(a, b):\n    return a - b"


def test_git_never_reads_the_callers_stdin(repo):
    empty_blob = "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"
    assert git("hash-object", "--stdin", cwd=repo) == empty_blob


def test_git_ignores_inherited_repository_variables(repo, tmp_path, monkeypatch):
    other = make_repo(tmp_path / "other")
    monkeypatch.setenv("GIT_DIR", str(other / ".git"))
    monkeypatch.setenv("GIT_WORK_TREE", str(other))
    monkeypatch.setenv("GIT_INDEX_FILE", str(tmp_path / "nowhere"))
    assert Path(git("rev-parse", "--show-toplevel", cwd=repo)) == repo.resolve()


# Hooks that a commit, an update-ref and a worktree checkout run; each one only writes a line.
HOOKS = ("pre-commit", "prepare-commit-msg", "commit-msg", "post-commit", "reference-transaction",
         "post-checkout")
IDENTITY = {"GIT_AUTHOR_NAME": "a", "GIT_AUTHOR_EMAIL": "a@b", "GIT_COMMITTER_NAME": "a",
            "GIT_COMMITTER_EMAIL": "a@b"}


def test_git_runs_no_user_hook(repo, tmp_path):
    marker = tmp_path / "hooks that ran"
    global_hooks = tmp_path / "global hooks"
    global_hooks.mkdir()
    for where, hooks in (("repo", repo / ".git" / "hooks"), ("global", global_hooks)):
        for name in HOOKS:
            hook = hooks / name
            hook.write_text(f"#!/bin/sh\necho '{where} {name}' >> '{marker}'\n")
            hook.chmod(0o755)

    def minion_git_work(where: str) -> None:
        head = git("rev-parse", "HEAD", cwd=repo)
        git("commit", "-q", "--allow-empty", "-m", "x", cwd=repo, env=IDENTITY)
        assert git("rev-parse", "HEAD", cwd=repo) != head  # the commit was made
        git("update-ref", "refs/heads/hooked", "HEAD", cwd=repo)
        git("worktree", "add", "-q", "--detach", str(tmp_path / f"minion-{where}"), cwd=repo)

    def ran() -> set[str]:
        return set(marker.read_text().splitlines()) if marker.exists() else set()

    for where in ("global", "repo"):  # a global core.hooksPath, then the repo's own .git/hooks
        if where == "global":
            run_git(repo, "config", "core.hooksPath", str(global_hooks))
        else:
            run_git(repo, "config", "--unset", "core.hooksPath")
        minion_git_work(where)
        assert ran() == set(), f"minion's git ran the user's hooks: {sorted(ran())}"
        # Positive control: plain git, doing the same, does run them.
        run_git(repo, "commit", "-q", "--allow-empty", "-m", "control")
        run_git(repo, "worktree", "add", "-q", "--detach", str(tmp_path / f"control-{where}"))
        assert {f"{where} {name}" for name in HOOKS} <= ran()
        marker.unlink()


def test_git_messages_are_in_english(repo, monkeypatch):
    monkeypatch.setenv("LANG", "de_DE.UTF-8")
    monkeypatch.setenv("LC_ALL", "de_DE.UTF-8")
    with pytest.raises(GitError, match="Needed a single revision"):
        git("rev-parse", "--verify", "nope", cwd=repo)


# --- find_repo_root ----------------------------------------------------------------------


def test_find_repo_root_from_root_subfolder_and_deep_file(repo):
    root = repo.resolve()
    assert find_repo_root(repo) == root
    assert find_repo_root(repo / "calc") == root
    assert find_repo_root(repo / "calc" / "ops.py") == root
    assert find_repo_root(repo / "calc" / "not-yet-saved.py") == root
    assert find_repo_root(repo / "new folder" / "deeper" / "new.py") == root


def test_find_repo_root_of_a_repo_in_a_subfolder_of_the_opened_folder(tmp_path):
    workspace = tmp_path / "workspace"
    project = make_repo(workspace / "services" / "api")
    write_files(project, {"src/deep/er/mod.py": "x = 1\n"})
    assert find_repo_root(project / "src" / "deep" / "er" / "mod.py") == project.resolve()
    with pytest.raises(NotAGitRepository, match="workspace"):
        find_repo_root(workspace)


def test_find_repo_root_outside_any_repo_names_the_path(tmp_path):
    folder = tmp_path / "plain folder é"
    folder.mkdir()
    with pytest.raises(NotAGitRepository) as err:
        find_repo_root(folder)
    assert str(folder) in str(err.value)
    assert "not a git repository" in str(err.value)


def test_find_repo_root_of_a_missing_path_raises(tmp_path):
    with pytest.raises(NotAGitRepository, match="missing"):
        find_repo_root(tmp_path / "missing" / "file.py")


def test_find_repo_root_inside_dot_git_raises(repo):
    with pytest.raises(NotAGitRepository, match="work tree"):
        find_repo_root(repo / ".git" / "refs")


def test_find_repo_root_resolves_symlinks(repo, tmp_path):
    link = tmp_path / "link to repo"
    link.symlink_to(repo)
    assert find_repo_root(link / "calc") == repo.resolve()


# --- take_snapshot: what S contains --------------------------------------------------------


def test_snapshot_of_a_clean_repo_is_head_plus_nothing(repo, worktrees):
    s = snap(repo, worktrees)
    assert s.repo_root == repo.resolve()
    assert s.git_common_dir == (repo / ".git").resolve()
    assert s.base_head == head(repo)
    assert s.ref == "refs/minion/snapshots/run1"
    assert run_git(repo, "rev-parse", s.ref) == s.commit
    assert parents(repo, s.commit) == [s.base_head]
    assert tree(repo, s.commit) == tree(repo, "HEAD")
    assert run_git(repo, "log", "-1", "--format=%an <%ae>|%cn <%ce>|%s", s.commit) == (
        "minion <minion@localhost>|minion <minion@localhost>|minion snapshot run1")


def test_snapshot_worktree_is_detached_at_s(repo, worktrees):
    s = snap(repo, worktrees)
    assert s.worktree == (worktrees / "run1").resolve()
    assert run_git(s.worktree, "rev-parse", "HEAD") == s.commit
    detached = subprocess.run(["git", "-C", str(s.worktree), "symbolic-ref", "-q", "HEAD"])
    assert detached.returncode == 1
    assert run_git(s.worktree, "status", "--porcelain") == ""
    assert str(s.worktree) in run_git(repo, "worktree", "list")


def test_snapshot_captures_staged_unstaged_and_untracked_work(repo, worktrees):
    write_files(repo, {
        "calc/ops.py": "def add(a, b):\n    return a + b\n",  # staged
        "calc/new_staged.py": "NEW = 1\n",
        "tests/test_ops.py": "staged version\n",
    })
    run_git(repo, "add", "calc/ops.py", "calc/new_staged.py", "tests/test_ops.py")
    write_files(repo, {
        "tests/test_ops.py": "working version wins\n",  # staged, then changed again
        "README.md": "untracked\n",
        "a/b/c/d/deep.txt": "nested untracked\n",
        "debug.log": "ignored\n",
        ".venv/lib/site.py": "ignored\n",
        "calc/__pycache__/ops.cpython-311.pyc": b"\x00ignored",
    })
    (repo / "calc" / "__init__.py").unlink()  # deleted, not staged
    s = snap(repo, worktrees)
    ignored = {"debug.log", ".venv/lib/site.py", "calc/__pycache__/ops.cpython-311.pyc"}
    snapshot_files = {path: content for path, (_, content) in tree(repo, s.commit).items()}
    assert snapshot_files == expected_worktree(repo, ignored)
    assert "calc/__init__.py" not in snapshot_files
    assert snapshot_files["tests/test_ops.py"] == b"working version wins\n"
    assert files(s.worktree) == expected_worktree(repo, ignored)


def test_snapshot_omits_files_deleted_in_the_index_or_added_then_deleted(repo, worktrees):
    run_git(repo, "rm", "-q", "calc/ops.py")
    write_files(repo, {"gone.txt": "soon gone\n"})
    run_git(repo, "add", "gone.txt")
    (repo / "gone.txt").unlink()
    s = snap(repo, worktrees)
    assert set(tree(repo, s.commit)) == {"calc/__init__.py", "tests/test_ops.py", ".gitignore"}


def test_snapshot_records_the_executable_bit(repo, worktrees):
    write_files(repo, {"run.sh": "#!/bin/sh\necho hi\n"})
    (repo / "run.sh").chmod(0o755)
    (repo / "calc" / "ops.py").chmod(0o755)  # mode change only
    s = snap(repo, worktrees)
    assert tree(repo, s.commit)["run.sh"][0] == "100755"
    assert tree(repo, s.commit)["calc/ops.py"][0] == "100755"
    assert os.access(s.worktree / "run.sh", os.X_OK)


def test_snapshot_with_core_filemode_false_keeps_the_index_mode(repo, worktrees):
    run_git(repo, "config", "core.fileMode", "false")
    write_files(repo, {"calc/ops.py": "changed\n", "new.sh": "#!/bin/sh\n"})
    (repo / "calc" / "ops.py").chmod(0o755)
    (repo / "new.sh").chmod(0o755)
    s = snap(repo, worktrees)
    assert tree(repo, s.commit)["calc/ops.py"] == ("100644", b"changed\n")
    assert tree(repo, s.commit)["new.sh"][0] == "100644"


def test_snapshot_when_a_file_and_a_folder_swap(repo, worktrees):
    (repo / "calc" / "ops.py").unlink()
    write_files(repo, {"calc/ops.py/inner.py": "now a folder\n"})
    shutil.rmtree(repo / "tests")
    write_files(repo, {"tests": "now a file\n"})
    s = snap(repo, worktrees)
    t = tree(repo, s.commit)
    assert t["calc/ops.py/inner.py"][1] == b"now a folder\n"
    assert t["tests"][1] == b"now a file\n"
    assert "calc/ops.py" not in t and "tests/test_ops.py" not in t


@pytest.mark.parametrize("name", [
    "with space.py", "ünïcödé.py", "tab\there.txt", "new\nline.txt", 'quote".txt',
    "back\\slash.txt", "-leading-dash", "#hash", "emoji 🐍.py",
])
def test_snapshot_of_awkward_file_names(repo, worktrees, name):
    write_files(repo, {f"dir ü/{name}": f"content of {name}\n", name: "top\n"})
    s = snap(repo, worktrees)
    assert tree(repo, s.commit)[f"dir ü/{name}"][1] == f"content of {name}\n".encode()
    assert (s.worktree / name).read_text() == "top\n"


def test_snapshot_of_binary_files(repo, worktrees):
    every_byte = bytes(range(256)) * 64
    write_files(repo, {"blob.bin": every_byte, "img.png": b"\x89PNG\r\n\x1a\n\x00\x00"})
    run_git(repo, "add", "img.png")
    s = snap(repo, worktrees)
    assert tree(repo, s.commit)["blob.bin"][1] == every_byte
    assert (s.worktree / "blob.bin").read_bytes() == every_byte
    assert (s.worktree / "img.png").read_bytes() == b"\x89PNG\r\n\x1a\n\x00\x00"


def test_snapshot_of_symlinks(repo, worktrees):
    (repo / "tracked-link").symlink_to("calc/ops.py")
    (repo / "retargeted").symlink_to("calc")
    run_git(repo, "add", "tracked-link", "retargeted")
    run_git(repo, "commit", "-q", "-m", "links")
    (repo / "retargeted").unlink()
    (repo / "retargeted").symlink_to("tests")
    (repo / "new-link").symlink_to("calc/__init__.py")
    (repo / "dangling").symlink_to("no/such/file")
    (repo / "calc" / "up").symlink_to("..")
    s = snap(repo, worktrees)
    t = tree(repo, s.commit)
    assert t["tracked-link"] == ("120000", b"calc/ops.py")
    assert t["retargeted"] == ("120000", b"tests")
    assert t["new-link"] == ("120000", b"calc/__init__.py")
    assert t["dangling"] == ("120000", b"no/such/file")
    assert t["calc/up"] == ("120000", b"..")
    for name, target in [("retargeted", "tests"), ("dangling", "no/such/file")]:
        assert os.readlink(s.worktree / name) == target


def test_snapshot_replacing_a_file_with_a_symlink(repo, worktrees):
    (repo / "calc" / "ops.py").unlink()
    (repo / "calc" / "ops.py").symlink_to("__init__.py")
    s = snap(repo, worktrees)
    assert tree(repo, s.commit)["calc/ops.py"] == ("120000", b"__init__.py")


CRLF = b"first line\r\nsecond line\r\n"
MIXED = b"crlf\r\nlf\nlone cr\rend\r\n"
LINE_ENDING_SETUPS = {
    "no settings": ({}, None),
    "core.autocrlf=true": ({"core.autocrlf": "true"}, None),
    "core.autocrlf=input": ({"core.autocrlf": "input"}, None),
    "core.eol=crlf": ({"core.eol": "crlf"}, "* text=auto\n"),
    "text=auto": ({}, "* text=auto\n"),
    "text eol=lf": ({}, "* text eol=lf\n"),
    "text with safecrlf": ({"core.safecrlf": "true", "core.autocrlf": "input"}, "* text\n"),
}


@pytest.mark.parametrize("setup", LINE_ENDING_SETUPS)
def test_snapshot_keeps_line_endings_byte_for_byte(repo, worktrees, setup):
    config, attributes = LINE_ENDING_SETUPS[setup]
    if attributes:
        write_files(repo, {".gitattributes": attributes})
        run_git(repo, "add", ".gitattributes")
        run_git(repo, "commit", "-q", "-m", "attributes")
    for key, value in config.items():
        run_git(repo, "config", key, value)
    write_files(repo, {"untracked.txt": CRLF, "mixed.txt": MIXED, "calc/ops.py": CRLF})
    s = snap(repo, worktrees, buffers={"buffer.py": "unsaved\r\ntext\r\n"})
    t = tree(repo, s.commit)
    for path, content in [("untracked.txt", CRLF), ("mixed.txt", MIXED), ("calc/ops.py", CRLF),
                          ("buffer.py", b"unsaved\r\ntext\r\n")]:
        assert t[path][1] == content, f"blob of {path}"
        assert (s.worktree / path).read_bytes() == content, f"worktree file {path}"


def test_snapshot_keeps_gits_own_conversion_of_unchanged_files(repo, worktrees):
    # With autocrlf=true git stores LF and checks out CRLF; the run's copy must match the
    # user's CRLF file, as git's own checkout would.
    run_git(repo, "config", "core.autocrlf", "true")
    write_files(repo, {"dos.txt": CRLF})
    run_git(repo, "add", "dos.txt")
    run_git(repo, "commit", "-q", "-m", "dos")
    s = snap(repo, worktrees)
    assert tree(repo, s.commit)["dos.txt"][1] == b"first line\nsecond line\n"
    assert (s.worktree / "dos.txt").read_bytes() == CRLF


def test_snapshot_bypasses_clean_filters(repo, worktrees):
    write_files(repo, {".gitattributes": "*.txt filter=upper ident\n"})
    run_git(repo, "config", "filter.upper.clean", "tr a-z A-Z")
    run_git(repo, "config", "filter.upper.smudge", "cat")
    write_files(repo, {"notes.txt": "lower case $Id$\n"})
    s = snap(repo, worktrees)
    assert tree(repo, s.commit)["notes.txt"][1] == b"lower case $Id$\n"


def test_snapshot_of_a_repo_with_no_commits(tmp_path, worktrees):
    repo = make_repo(tmp_path / "fresh ü", {"staged.py": "a = 1\n", "untracked.py": "b = 2\n"},
                     commit=False)
    run_git(repo, "add", "staged.py")
    s = snap(repo, worktrees)
    assert s.base_head is None
    assert parents(repo, s.commit) == []
    assert {p: c for p, (_, c) in tree(repo, s.commit).items()} == {
        "staged.py": b"a = 1\n", "untracked.py": b"b = 2\n"}
    assert files(s.worktree) == files(repo)
    assert subprocess.run(["git", "-C", str(repo), "rev-parse", "-q", "--verify", "HEAD"],
                          capture_output=True).returncode == 1  # still unborn


def test_snapshot_of_an_empty_repo_is_an_empty_tree(tmp_path, worktrees):
    repo = make_repo(tmp_path / "empty", {}, commit=False)
    s = snap(repo, worktrees)
    assert tree(repo, s.commit) == {}
    assert s.base_head is None


def test_snapshot_on_a_detached_head(repo, worktrees):
    first = head(repo)
    write_files(repo, {"calc/ops.py": "second\n"})
    run_git(repo, "commit", "-q", "-am", "second")
    run_git(repo, "checkout", "-q", "--detach", first)
    write_files(repo, {"calc/ops.py": "dirty on detached\n"})
    s = snap(repo, worktrees)
    assert s.base_head == first
    assert parents(repo, s.commit) == [first]
    assert tree(repo, s.commit)["calc/ops.py"][1] == b"dirty on detached\n"


def test_snapshot_of_a_repo_given_by_a_subfolder_or_file(repo, worktrees):
    s = snap(repo, worktrees, run_id="from-root")
    t = snap(repo / "calc", worktrees, run_id="from-folder")
    u = take_snapshot(repo / "calc" / "ops.py", "from-deep-file", worktrees_dir=worktrees)
    assert s.repo_root == t.repo_root == u.repo_root == repo.resolve()


def test_snapshot_of_something_that_is_not_a_repo(tmp_path, worktrees):
    folder = tmp_path / "not a repo"
    folder.mkdir()
    with pytest.raises(NotAGitRepository, match="not a repo"):
        take_snapshot(folder, "run1", worktrees_dir=worktrees)


def test_snapshot_of_an_unmerged_conflict_records_the_working_file(repo, worktrees):
    run_git(repo, "checkout", "-q", "-b", "other")
    write_files(repo, {"calc/ops.py": "theirs\n"})
    run_git(repo, "commit", "-q", "-am", "theirs")
    run_git(repo, "checkout", "-q", "main")
    write_files(repo, {"calc/ops.py": "ours\n"})
    run_git(repo, "commit", "-q", "-am", "ours")
    subprocess.run(["git", "-C", str(repo), "merge", "-q", "other"], capture_output=True)
    working = (repo / "calc" / "ops.py").read_bytes()
    assert b"<<<<<<<" in working
    s = snap(repo, worktrees)
    assert tree(repo, s.commit)["calc/ops.py"][1] == working


def test_snapshot_of_an_intent_to_add_file(repo, worktrees):
    write_files(repo, {"later.py": "x = 1\n"})
    run_git(repo, "add", "-N", "later.py")
    s = snap(repo, worktrees)
    assert tree(repo, s.commit)["later.py"][1] == b"x = 1\n"


def test_snapshot_keeps_skip_worktree_files_of_a_sparse_checkout(repo, worktrees):
    run_git(repo, "sparse-checkout", "set", "calc")
    assert not (repo / "tests").exists()
    s = snap(repo, worktrees)
    assert "tests/test_ops.py" in tree(repo, s.commit)


def test_snapshot_from_a_linked_worktree_of_the_user(repo, tmp_path, worktrees):
    linked = tmp_path / "user linked wt"
    run_git(repo, "worktree", "add", "-q", "-b", "feature", str(linked))
    write_files(linked, {"calc/ops.py": "staged in linked\n", "extra.txt": "untracked\n"})
    run_git(linked, "add", "calc/ops.py")
    s = snap(linked, worktrees)
    assert s.repo_root == linked.resolve()
    assert s.git_common_dir == (repo / ".git").resolve()
    assert s.base_head == head(linked)
    assert tree(repo, s.commit)["calc/ops.py"][1] == b"staged in linked\n"
    assert tree(repo, s.commit)["extra.txt"][1] == b"untracked\n"


def test_snapshot_leaves_out_an_untracked_nested_repo(repo, tmp_path, worktrees):
    make_repo(repo / "vendor" / "lib", {"lib.py": "x = 1\n"})
    s = snap(repo, worktrees)
    assert not any(path.startswith("vendor") for path in tree(repo, s.commit))


def test_snapshot_records_a_submodule_at_its_current_head(repo, tmp_path, worktrees):
    upstream = make_repo(tmp_path / "upstream", {"lib.py": "v = 1\n"})
    run_git(repo, "-c", "protocol.file.allow=always", "submodule", "-q", "add",
            str(upstream), "vendor/lib")
    run_git(repo, "commit", "-q", "-m", "add submodule")
    sub = repo / "vendor" / "lib"
    recorded = head(sub)
    write_files(sub, {"lib.py": "v = 2\n"})
    run_git(sub, "commit", "-q", "-am", "moved on")  # submodule HEAD moves, not committed above
    moved = head(sub)
    write_files(sub, {"lib.py": "dirty in submodule\n", "scratch.txt": "untracked in sub\n"})
    s = snap(repo, worktrees)
    t = tree(repo, s.commit)
    assert moved != recorded
    assert t["vendor/lib"] == ("160000", moved.encode())
    assert not any(path.startswith("vendor/lib/") for path in t)
    assert (s.worktree / "vendor" / "lib").is_dir()


def test_snapshot_of_an_unchanged_submodule_keeps_its_gitlink(repo, tmp_path, worktrees):
    upstream = make_repo(tmp_path / "upstream", {"lib.py": "v = 1\n"})
    run_git(repo, "-c", "protocol.file.allow=always", "submodule", "-q", "add",
            str(upstream), "lib")
    run_git(repo, "commit", "-q", "-m", "add submodule")
    s = snap(repo, worktrees)
    assert tree(repo, s.commit)["lib"] == ("160000", head(repo / "lib").encode())


# --- take_snapshot: unsaved buffers --------------------------------------------------------


def test_buffers_win_over_files_and_add_new_ones(repo, worktrees):
    write_files(repo, {"calc/ops.py": "on disk, modified\n"})
    s = snap(repo, worktrees, buffers={
        "calc/ops.py": "unsaved edit\n",  # relative
        repo / "tests" / "test_ops.py": "unsaved test ✓\n",  # absolute Path
        str(repo / "calc" / "brand_new.py"): "never saved\n",  # absolute str
    })
    t = tree(repo, s.commit)
    assert t["calc/ops.py"] == ("100644", b"unsaved edit\n")
    assert t["tests/test_ops.py"] == ("100644", "unsaved test ✓\n".encode())
    assert t["calc/brand_new.py"] == ("100644", b"never saved\n")
    assert (s.worktree / "calc" / "ops.py").read_text() == "unsaved edit\n"
    assert (repo / "calc" / "ops.py").read_text() == "on disk, modified\n"


def test_buffer_keeps_the_mode_of_an_existing_file(repo, worktrees):
    write_files(repo, {"tool.sh": "#!/bin/sh\n"})
    (repo / "tool.sh").chmod(0o755)
    s = snap(repo, worktrees, buffers={"tool.sh": "#!/bin/sh\necho unsaved\n"})
    assert tree(repo, s.commit)["tool.sh"] == ("100755", b"#!/bin/sh\necho unsaved\n")


def test_buffer_of_a_deleted_file_brings_it_back(repo, worktrees):
    (repo / "calc" / "ops.py").unlink()
    s = snap(repo, worktrees, buffers={"calc/ops.py": "still open in the editor\n"})
    assert tree(repo, s.commit)["calc/ops.py"] == ("100644", b"still open in the editor\n")


def test_buffer_named_through_a_symlink_lands_on_the_real_file(repo, tmp_path, worktrees):
    link = tmp_path / "repo via link"
    link.symlink_to(repo)
    (repo / "ops-link.py").symlink_to("calc/ops.py")
    s = snap(repo, worktrees, buffers={link / "calc" / "__init__.py": "via folder link\n",
                                       "ops-link.py": "via file link\n"})
    t = tree(repo, s.commit)
    assert t["calc/__init__.py"][1] == b"via folder link\n"
    assert t["calc/ops.py"][1] == b"via file link\n"
    assert t["ops-link.py"] == ("120000", b"calc/ops.py")


def test_buffer_of_an_ignored_file_is_included(repo, worktrees):
    s = snap(repo, worktrees, buffers={"notes.log": "explicitly open\n"})
    assert tree(repo, s.commit)["notes.log"][1] == b"explicitly open\n"


@pytest.mark.parametrize("bad", ["../outside.py", "/etc/hostname", ".git/config", "calc",
                                 "vendor/lib/lib.py"])
def test_buffers_that_are_not_files_of_the_repo_are_refused(repo, tmp_path, worktrees, bad):
    make_repo(repo / "vendor" / "lib", {"lib.py": "x = 1\n"})
    before = fingerprint(repo)
    with pytest.raises(MinionError, match="unsaved buffer"):
        take_snapshot(repo, "run1", buffers={bad: "text"}, worktrees_dir=worktrees)
    assert_unchanged(before, fingerprint(repo))
    assert run_git(repo, "for-each-ref", "refs/minion") == ""
    assert not worktrees.exists()


# --- take_snapshot: environment, hooks, failures, concurrency -------------------------------


def test_snapshot_and_result_without_any_git_identity(repo, tmp_path, worktrees, monkeypatch):
    home = tmp_path / "empty home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for name in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME",
                 "GIT_COMMITTER_EMAIL", "EMAIL", "GIT_CONFIG_GLOBAL"):
        monkeypatch.delenv(name, raising=False)
    run_git(repo, "config", "user.useConfigOnly", "true")
    s = snap(repo, worktrees)
    write_files(s.worktree, {"calc/ops.py": "fixed\n"})
    result = commit_result(s, branch="minion/fix-r1", message="Fix add")
    for commit in (s.commit, result):
        assert run_git(repo, "log", "-1", "--format=%an <%ae> %cn <%ce>", commit) == (
            "minion <minion@localhost> minion <minion@localhost>")


def test_no_user_hook_runs(repo, tmp_path, worktrees):
    marker = tmp_path / "hook ran"
    global_hooks = tmp_path / "global hooks"
    global_hooks.mkdir()
    names = ["pre-commit", "prepare-commit-msg", "commit-msg", "post-commit", "post-checkout",
             "reference-transaction", "post-index-change", "pre-auto-gc"]
    for hooks in (repo / ".git" / "hooks", global_hooks):
        for name in names:
            hook = hooks / name
            hook.write_text(f"#!/bin/sh\necho {name} >> '{marker}'\n")
            hook.chmod(0o755)
    run_git(repo, "config", "core.hooksPath", str(global_hooks))
    write_files(repo, {"calc/ops.py": "dirty\n"})
    s = snap(repo, worktrees, buffers={"b.py": "x\n"})
    write_files(s.worktree, {"calc/ops.py": "agent\n"})
    before = fingerprint(repo)
    commit_result(s, branch="minion/hooks-r1", message="m")
    remove_worktree(s.worktree, repo)
    assert_unchanged(before, fingerprint(repo))
    assert not marker.exists(), marker.read_text()


def test_no_signing_even_when_the_user_signs_everything(repo, worktrees):
    run_git(repo, "config", "commit.gpgSign", "true")
    run_git(repo, "config", "gpg.program", "false")  # any signing attempt fails
    s = snap(repo, worktrees)
    write_files(s.worktree, {"calc/ops.py": "fixed\n"})
    assert commit_result(s, branch="minion/sign-r1", message="m")


def test_snapshot_with_a_run_id_already_used_fails_cleanly(repo, worktrees):
    first = snap(repo, worktrees)
    before = fingerprint(repo)
    with pytest.raises(GitError):
        take_snapshot(repo, "run1", worktrees_dir=worktrees)
    assert_unchanged(before, fingerprint(repo))
    assert run_git(repo, "rev-parse", first.ref) == first.commit
    assert files(first.worktree) == files(repo)


def test_failed_worktree_leaves_no_snapshot_ref(repo, worktrees):
    write_files(worktrees / "run1", {"occupied.txt": "someone else's\n"})
    with pytest.raises(GitError, match="worktree add"):
        take_snapshot(repo, "run1", worktrees_dir=worktrees)
    assert run_git(repo, "for-each-ref", "refs/minion") == ""
    assert (worktrees / "run1" / "occupied.txt").read_text() == "someone else's\n"


def test_concurrent_snapshots_of_one_repo_all_succeed(repo, worktrees):
    write_files(repo, {"calc/ops.py": "dirty\n", "new.py": "untracked\n"})
    before = fingerprint(repo)
    count = 6
    barrier = threading.Barrier(count)
    results: dict[int, Snapshot | BaseException] = {}

    def take(n: int) -> None:
        barrier.wait()
        try:
            results[n] = take_snapshot(repo, f"run{n}", worktrees_dir=worktrees,
                                       buffers={"buf.py": f"buffer {n}\n"})
        except BaseException as e:  # reported below
            results[n] = e

    threads = [threading.Thread(target=take, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert_unchanged(before, fingerprint(repo))
    assert all(isinstance(r, Snapshot) for r in results.values()), results
    for n, s in results.items():
        assert (s.worktree / "buf.py").read_text() == f"buffer {n}\n"
        assert (s.worktree / "calc" / "ops.py").read_text() == "dirty\n"
    assert len(run_git(repo, "worktree", "list").splitlines()) == count + 1


def test_snapshot_leaves_no_temporary_file_behind(repo, worktrees, tmp_path, monkeypatch):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    snap(repo, worktrees, buffers={"b.py": "x\n"})
    assert list(scratch.iterdir()) == []


# --- commit_result -------------------------------------------------------------------------


def test_commit_result_without_changes_points_the_branch_at_s(repo, worktrees):
    s = snap(repo, worktrees)
    assert commit_result(s, branch="minion/nothing-r1", message="nothing") is None
    assert run_git(repo, "rev-parse", "refs/heads/minion/nothing-r1") == s.commit


def test_commit_result_commits_the_worktree_on_top_of_s(repo, worktrees):
    write_files(repo, {"user-wip.py": "user's unsaved work\n"})
    s = snap(repo, worktrees)
    write_files(s.worktree, {"calc/ops.py": "def add(a, b):\n    return a + b\n",
                             "calc/new.py": "NEW = 1\n", "run.log": "ignored\n",
                             "calc/__pycache__/x.pyc": b"\0"})
    (s.worktree / "tests" / "test_ops.py").unlink()
    before = fingerprint(repo)
    message = "Fix add\n\n# not a comment: kept verbatim\n"
    result = commit_result(s, branch="minion/fix-add-r1", message=message)
    assert_unchanged(before, fingerprint(repo))
    assert parents(repo, result) == [s.commit]
    assert run_git(repo, "rev-parse", "refs/heads/minion/fix-add-r1") == result
    assert run_git(s.worktree, "rev-parse", "HEAD") == result
    assert run_git(repo, "cat-file", "commit", result).endswith(message.rstrip("\n"))
    assert run_git(repo, "log", "-1", "--format=%an <%ae>|%cn <%ce>", result) == (
        "minion <minion@localhost>|minion <minion@localhost>")
    assert changed_files(repo, s.commit, result) == [
        "calc/new.py", "calc/ops.py", "tests/test_ops.py"]
    assert "user-wip.py" in tree(repo, result)


def test_commit_result_calls_stack(repo, worktrees):
    s = snap(repo, worktrees)
    write_files(s.worktree, {"one.txt": "1\n"})
    first = commit_result(s, branch="minion/stack-r1", message="one")
    write_files(s.worktree, {"two.txt": "2\n"})
    second = commit_result(s, branch="minion/stack-r1", message="two")
    assert parents(repo, second) == [first]
    assert parents(repo, first) == [s.commit]
    assert commit_result(s, branch="minion/stack-r1", message="three") is None
    assert run_git(repo, "rev-parse", "minion/stack-r1") == second


def test_commit_result_never_moves_a_branch_it_did_not_leave_there(repo, worktrees):
    run_git(repo, "branch", "minion/old-r1")
    before = run_git(repo, "rev-parse", "minion/old-r1")
    s = snap(repo, worktrees)
    write_files(s.worktree, {"x.txt": "x\n"})
    with pytest.raises(BranchMoved, match="moved outside minion"):
        commit_result(s, branch="minion/old-r1", message="x")
    assert run_git(repo, "rev-parse", "minion/old-r1") == before


def test_commit_result_with_a_bad_branch_name_fails(repo, worktrees):
    s = snap(repo, worktrees)
    with pytest.raises(GitError):
        commit_result(s, branch="minion/bad name..", message="x")


@pytest.mark.parametrize("setup", ["text=auto", "core.autocrlf=true"])
def test_an_agent_edit_of_a_crlf_file_is_a_one_line_change(repo, worktrees, setup):
    # A file committed with CRLF before the setting: git keeps its CRLF from then on.
    write_files(repo, {"dos.txt": b"one\r\ntwo\r\nthree\r\n"})
    run_git(repo, "add", "-A")
    run_git(repo, "commit", "-q", "-m", "dos")
    if setup == "text=auto":
        write_files(repo, {".gitattributes": "* text=auto\n"})
        run_git(repo, "add", "-A")
        run_git(repo, "commit", "-q", "-m", "attributes")
    else:
        run_git(repo, "config", "core.autocrlf", "true")
    write_files(repo, {"new-dos.txt": b"a\r\nb\r\nc\r\n"})  # untracked, stored raw
    s = snap(repo, worktrees)
    for name in ("dos.txt", "new-dos.txt"):
        path = s.worktree / name
        lines = path.read_bytes().split(b"\r\n")
        lines[1] = b"CHANGED"
        path.write_bytes(b"\r\n".join(lines))
    result = commit_result(s, branch="minion/crlf-r1", message="edit")
    found = hunks(repo, s.commit, result)
    assert [(h.path, h.old_lines, h.new_lines) for h in found] == [
        ("dos.txt", 1, 1), ("new-dos.txt", 1, 1)]


# --- diffs and hunks ---------------------------------------------------------------------


@pytest.fixture
def two_commits(repo):
    """(repo, base, head) with a modification, an addition, a deletion and a rename."""
    base = head(repo)
    write_files(repo, {"calc/ops.py": "def add(a, b):\n    return a + b\n",
                       "docs/ünïcode guide.md": "# Guide\n"})
    (repo / "tests" / "test_ops.py").rename(repo / "tests" / "test_calc.py")
    (repo / "calc" / "__init__.py").unlink()
    run_git(repo, "add", "-A")
    run_git(repo, "commit", "-q", "-m", "change")
    return repo, base, head(repo)


def test_changed_files_lists_every_path_touched(two_commits):
    repo, base, new = two_commits
    assert changed_files(repo, base, new) == [
        "calc/__init__.py", "calc/ops.py", "docs/ünïcode guide.md", "tests/test_calc.py",
        "tests/test_ops.py"]


def test_diff_is_standard_whatever_the_users_diff_config(two_commits):
    repo, base, new = two_commits
    for key, value in [("diff.noprefix", "true"), ("diff.mnemonicPrefix", "true"),
                       ("color.ui", "always"), ("diff.external", "false"),
                       ("diff.relative", "true"), ("diff.context", "0")]:
        run_git(repo, "config", key, value)
    text = diff(repo / "calc", base, new)
    assert "diff --git a/calc/ops.py b/calc/ops.py" in text
    assert "-    return a - b\n+    return a + b" in text
    assert "rename from tests/test_ops.py\nrename to tests/test_calc.py" in text
    assert "+++ b/docs/ünïcode guide.md" in text
    assert "\x1b[" not in text


def test_diffstat_summarises(two_commits):
    repo, base, new = two_commits
    stat_text = diffstat(repo, base, new)
    assert "calc/ops.py" in stat_text and "ünïcode guide.md" in stat_text
    assert "4 files changed" in stat_text.splitlines()[-1]


def commit_files(repo: Path, contents: dict[str, bytes | None]) -> str:
    for path, content in contents.items():
        if content is None:
            (repo / path).unlink()
        else:
            write_files(repo, {path: content})
    run_git(repo, "add", "-A")
    run_git(repo, "commit", "-q", "--allow-empty", "-m", "c")
    return head(repo)


def test_hunks_of_modified_added_and_deleted_files(repo):
    base = commit_files(repo, {"f.txt": b"1\n2\n3\n4\n5\n6\n7\n8\n9\n", "old.txt": b"bye\nnow\n"})
    new = commit_files(repo, {"f.txt": b"1\nTWO\n3\n4\n5\n6\nnew a\nnew b\n7\n8\n",
                              "old.txt": None, "added.txt": b"hello\n"})
    assert hunks(repo, base, new) == [
        Hunk("added.txt", 0, 0, 1, 1, "", "hello\n"),
        Hunk("f.txt", 2, 1, 2, 1, "2\n", "TWO\n"),
        Hunk("f.txt", 6, 0, 7, 2, "", "new a\nnew b\n"),
        Hunk("f.txt", 9, 1, 10, 0, "9\n", ""),
        Hunk("old.txt", 1, 2, 0, 0, "bye\nnow\n", ""),
    ]


def test_hunks_track_a_missing_final_newline(repo):
    base = commit_files(repo, {"a.txt": b"x\nlast", "b.txt": b"x\nlast\n", "c.txt": b"only"})
    new = commit_files(repo, {"a.txt": b"x\nlast\n", "b.txt": b"x\nlast", "c.txt": b"other"})
    assert hunks(repo, base, new) == [
        Hunk("a.txt", 2, 1, 2, 1, "last", "last\n"),
        Hunk("b.txt", 2, 1, 2, 1, "last\n", "last"),
        Hunk("c.txt", 1, 1, 1, 1, "only", "other"),
    ]


def test_hunks_keep_crlf_and_lines_that_look_like_headers(repo):
    old_sql = b"-- comment\r\n++ x\r\n@@ -1 +1 @@\r\ndiff --git a b\r\n"
    new_sql = b"--- changed\r\n+++ y\r\n@@ -1 +1 @@\r\ndiff --git c d\r\n"
    base = commit_files(repo, {"q.sql": old_sql})
    new = commit_files(repo, {"q.sql": new_sql})
    assert hunks(repo, base, new) == [
        Hunk("q.sql", 1, 2, 1, 2, "-- comment\r\n++ x\r\n", "--- changed\r\n+++ y\r\n"),
        Hunk("q.sql", 4, 1, 4, 1, "diff --git a b\r\n", "diff --git c d\r\n"),
    ]


@pytest.mark.parametrize("name", ["with space.py", "ünï cödé.py", "tab\there", 'q"uote',
                                  "new\nline", "a/b c/d.txt"])
def test_hunks_decode_awkward_paths(repo, name):
    base = commit_files(repo, {name: b"old\n"})
    new = commit_files(repo, {name: b"new\n"})
    assert hunks(repo, base, new) == [Hunk(name, 1, 1, 1, 1, "old\n", "new\n")]


def test_hunks_leave_out_binary_symlinks_and_mode_changes(repo):
    (repo / "link").symlink_to("calc/ops.py")
    base = commit_files(repo, {"bin.dat": b"\0\1\2", "script.sh": b"echo\n"})
    (repo / "link").unlink()
    (repo / "link").symlink_to("tests")
    (repo / "script.sh").chmod(0o755)
    new = commit_files(repo, {"bin.dat": b"\0\3\4"})
    assert hunks(repo, base, new) == []


def test_hunks_leave_out_submodules(repo, tmp_path):
    upstream = make_repo(tmp_path / "upstream", {"lib.py": "v = 1\n"})
    run_git(repo, "-c", "protocol.file.allow=always", "submodule", "-q", "add",
            str(upstream), "lib")
    base = commit_files(repo, {})
    write_files(repo / "lib", {"lib.py": "v = 2\n"})
    run_git(repo / "lib", "commit", "-q", "-am", "v2")
    run_git(repo, "config", "diff.submodule", "diff")
    new = commit_files(repo, {})
    assert changed_files(repo, base, new) == ["lib"]
    assert hunks(repo, base, new) == []


def test_hunks_of_a_file_that_becomes_a_symlink(repo):
    base = commit_files(repo, {"f.txt": b"text\n"})
    (repo / "f.txt").unlink()
    (repo / "f.txt").symlink_to("calc")
    new = commit_files(repo, {})
    assert hunks(repo, base, new) == [Hunk("f.txt", 1, 1, 0, 0, "text\n", "")]


def test_hunks_ignore_the_users_context_settings(repo):
    base = commit_files(repo, {"f.txt": b"".join(b"%d\n" % n for n in range(20))})
    changed = [b"0\n" if n in (3, 6) else b"%d\n" % n for n in range(20)]
    new = commit_files(repo, {"f.txt": b"".join(changed)})
    run_git(repo, "config", "diff.interHunkContext", "10")
    run_git(repo, "config", "diff.noprefix", "true")
    assert [h.old_start for h in hunks(repo, base, new)] == [4, 7]


def apply_hunks(old: str, found: list[Hunk]) -> str:
    """What an editor does with the quick fixes: apply every hunk, bottom up."""
    lines = old.splitlines(keepends=True)
    for h in reversed(found):
        start = h.old_start - 1 if h.old_lines else h.old_start
        lines[start:start + h.old_lines] = h.new_text.splitlines(keepends=True)
    return "".join(lines)


# Lines that look like patch syntax, and a CRLF one.
PATCHY_LINES = st.lists(st.sampled_from(["a\n", "b\n", "c\r\n", "-- d\n", "+e\n", "\\ f\n"]),
                        max_size=12)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(old=PATCHY_LINES, new=PATCHY_LINES, final_newline=st.booleans())
def test_applying_all_hunks_turns_old_into_new(repo, old, new, final_newline):
    old_text = "".join(old)
    new_text = "".join(new)
    if not final_newline and new_text:
        new_text = new_text[:-1]
    base = commit_files(repo, {"p.txt": old_text.encode()})
    result = commit_files(repo, {"p.txt": new_text.encode()})
    found = hunks(repo, base, result)
    assert all(h.path == "p.txt" for h in found)
    assert apply_hunks(old_text, found) == new_text


# --- remove_worktree -----------------------------------------------------------------------


def test_remove_worktree_keeps_the_snapshot_ref(repo, worktrees):
    s = snap(repo, worktrees)
    write_files(s.worktree, {"agent-left.txt": "dirty\n", "junk.log": "ignored\n"})
    before = fingerprint(repo)
    remove_worktree(s.worktree, repo)
    assert_unchanged(before, fingerprint(repo))
    assert not s.worktree.exists()
    assert str(s.worktree) not in run_git(repo, "worktree", "list")
    assert run_git(repo, "rev-parse", s.ref) == s.commit


def test_remove_worktree_by_path_and_twice(repo, worktrees):
    s = snap(repo, worktrees)
    remove_worktree(s.worktree, repo)
    remove_worktree(s.worktree, repo)
    assert run_git(repo, "worktree", "list").count("\n") == 0


def test_remove_worktree_after_its_folder_was_deleted_by_hand(repo, worktrees):
    s = snap(repo, worktrees)
    shutil.rmtree(s.worktree)
    remove_worktree(s.worktree, repo)
    assert run_git(repo, "worktree", "list", "--porcelain").count("worktree ") == 1


def test_remove_worktree_keeps_the_users_other_stale_worktrees(repo, tmp_path, worktrees):
    other = tmp_path / "on an unmounted disk"
    run_git(repo, "worktree", "add", "-q", "--detach", str(other))
    shutil.rmtree(other)
    s = snap(repo, worktrees)
    remove_worktree(s.worktree, repo)
    assert str(other) in run_git(repo, "worktree", "list")


# --- slugify -------------------------------------------------------------------------------


@pytest.mark.parametrize("task, slug", [
    ("Fix the add() bug!", "fix-the-add-bug"),
    ("Naïve café: handle résumé", "naive-cafe-handle-resume"),
    ("  Multiple   spaces__and--dashes  ", "multiple-spaces-and-dashes"),
    ("TODO(#123): Use HTTPS", "todo-123-use-https"),
    ("", "task"),
    ("!!!", "task"),
    ("日本語のタスク", "task"),
    ("Refactor the configuration loader to support layered overrides",
     "refactor-the-configuration-loader-to"),
    ("x" * 60, "x" * 40),
    ("word " + "y" * 50, "word"),
])
def test_slugify(task, slug):
    assert slugify(task) == slug


@given(st.text())
def test_slugify_is_always_a_short_dashed_ascii_word_list(task):
    slug = slugify(task)
    assert 0 < len(slug) <= 40
    assert all(part and part.isascii() and part.isalnum() and part == part.lower()
               for part in slug.split("-"))


# --- the fingerprint helper ----------------------------------------------------------------


def test_fingerprint_is_stable(repo):
    """An unchanged repo keeps its fingerprint, however it is read; a changed one does not
    (a constant would pass the first half alone). Each kind of change one by one:
    test_fingerprint_sees_each_kind_of_change."""
    before = fingerprint(repo)
    for read in (("status",), ("log", "--all"), ("diff",), ("ls-files", "-s"), ("stash", "list")):
        git(*read, cwd=repo)  # minion's git: what a run does to the user's repo on the host
    assert_unchanged(before, fingerprint(repo))
    # It holds what it covers, not a summary that could miss a change.
    assert before["files"]["calc/ops.py"].content == (repo / "calc" / "ops.py").read_bytes()
    assert before["index"] == (repo / ".git" / "index").read_bytes()
    assert run_git(repo, "rev-parse", "HEAD") in before["refs"]

    # (what, a change, what the failure must name); each on top of the ones before.
    stashed: list[str] = []
    changes = [
        ("work tree", lambda: (repo / "calc" / "ops.py").write_text("changed\n"), "files: calc/ops.py"),
        ("index", lambda: run_git(repo, "add", "calc/ops.py"), "index changed"),
        ("ref", lambda: run_git(repo, "update-ref", "refs/heads/other", "HEAD"), "refs/heads/other"),
        # Only the stash: `stash create` (before the fingerprint) wrote the commit, and
        # `stash store` moves refs/stash alone, not the work tree or the index.
        ("stash", lambda: run_git(repo, "stash", "store", "-m", "kept", stashed[0]), "stash list changed"),
    ]
    for what, change, expected in changes:
        if what == "stash":
            (repo / "calc" / "ops.py").write_text("to stash\n")
            stashed.append(run_git(repo, "stash", "create"))
        before = fingerprint(repo)
        change()
        with pytest.raises(AssertionError, match=expected):
            assert_unchanged(before, fingerprint(repo))
        assert_unchanged(fingerprint(repo), fingerprint(repo))  # the changed repo's is stable too


@pytest.mark.parametrize("change, expected", [
    (lambda r: (r / "calc" / "ops.py").write_text("x\n"), "files: calc/ops.py: mtime_ns, content"),
    (lambda r: (r / "calc" / "ops.py").chmod(0o755), "files: calc/ops.py: mode"),
    (lambda r: os.utime(r / "calc" / "ops.py", ns=(1, 1)), "files: calc/ops.py: mtime_ns"),
    (lambda r: (r / "untracked.txt").write_text("x"), "files: untracked.txt added"),
    (lambda r: (r / "debug.log").write_text("x"), "files: debug.log added"),
    (lambda r: (r / "calc" / "__init__.py").unlink(), "files: calc/__init__.py removed"),
    (lambda r: (r / "link").symlink_to("calc"), "files: link added (link)"),
    (lambda r: run_git(r, "update-index", "--chmod=+x", "calc/ops.py"), "index changed"),
    (lambda r: run_git(r, "checkout", "-q", "--detach"), "HEAD changed"),
    (lambda r: run_git(r, "branch", "feature"), "+ 'refs/heads/feature"),
    (lambda r: run_git(r, "update-ref", "refs/minion-not/x", "HEAD"), "refs/minion-not/x"),
    (lambda r: run_git(r, "tag", "v1"), "refs/tags/v1"),
    (lambda r: run_git(r, "config", "user.name", "Someone"), "config changed"),
    (lambda r: (r / ".git" / "hooks" / "pre-commit").write_text(""), "hooks: pre-commit added"),
    (lambda r: (r / ".git" / "info" / "exclude").write_text("*.tmp\n"), "info: exclude"),
])
def test_fingerprint_sees_each_kind_of_change(repo, change, expected):
    before = fingerprint(repo)
    change(repo)
    with pytest.raises(AssertionError) as err:
        assert_unchanged(before, fingerprint(repo))
    assert expected in str(err.value)


def test_fingerprint_sees_a_stash(repo):
    before = fingerprint(repo)
    write_files(repo, {"calc/ops.py": "wip\n"})
    run_git(repo, "stash", "-q")
    with pytest.raises(AssertionError) as err:
        assert_unchanged(before, fingerprint(repo))
    assert "stash list changed" in str(err.value) and "refs/stash changed" in str(err.value)


def test_fingerprint_ignores_minions_own_refs(repo):
    before = fingerprint(repo)
    run_git(repo, "update-ref", "refs/minion/snapshots/x", "HEAD")
    run_git(repo, "branch", "minion/fix-x")
    assert_unchanged(before, fingerprint(repo))


def test_fingerprint_of_a_linked_worktree(repo, tmp_path):
    linked = tmp_path / "linked"
    run_git(repo, "worktree", "add", "-q", "-b", "feature", str(linked))
    before = fingerprint(linked)
    run_git(linked, "checkout", "-q", "--detach")
    with pytest.raises(AssertionError, match="HEAD changed"):
        assert_unchanged(before, fingerprint(linked))


# --- an edit git's stat data cannot see (racy git) ---------------------------------------


def _edit_in_the_checkouts_second(worktree: Path, rel: str, text: str) -> None:
    """Edit ``rel`` in place, to the same size, within the second its index entry and the
    index itself were written (git compares only whole-second mtimes and sizes here): only
    git's racy-entry rule (an entry as new as its index is checked by content) still sees
    the edit, as in a run whose agent edits a file within a second of its checkout."""
    run_git(worktree, "config", "core.checkStat", "minimal")
    run_git(worktree, "config", "core.trustctime", "false")
    path = worktree / rel
    second = (path.stat().st_mtime_ns // 10**9 - 100) * 10**9  # one whole second, long ago
    os.utime(path, ns=(second, second))
    run_git(worktree, "update-index", "-q", "--refresh")  # the entry's stat: that second (not racy yet)
    assert len(text.encode()) == path.stat().st_size
    with path.open("r+") as f:
        f.write(text)
    os.utime(path, ns=(second + 5 * 10**8, second + 5 * 10**8))
    index = Path(git("rev-parse", "--path-format=absolute", "--git-path", "index", cwd=worktree))
    os.utime(index, ns=(second + 9 * 10**8, second + 9 * 10**8))  # the index written in that second too


def test_a_racy_edit_is_seen_by_the_checkpoint_and_kept_by_put_back_changes(repo, worktrees):
    from minion.fleet.checkpoint import _files_tree
    from minion.snapshot import put_back_changes

    snapshot = snap(repo, worktrees)
    edited = "def add(a, b):\n    return a + b\n"
    original = (snapshot.worktree / "calc/ops.py").read_text()
    assert original.replace("a - b", "a + b") == edited
    _edit_in_the_checkouts_second(snapshot.worktree, "calc/ops.py", edited)

    checkpoint = _files_tree(snapshot.worktree, 50)
    assert run_git(snapshot.worktree, "show", f"{checkpoint}:calc/ops.py") + "\n" == edited

    with put_back_changes(snapshot.worktree) as changed:  # a check that rewrites the file
        (snapshot.worktree / "calc/ops.py").write_text(edited + "# formatted\n")
    assert changed == ["calc/ops.py"]
    assert (snapshot.worktree / "calc/ops.py").read_text() == edited  # the agent's edit, not the checkout's
