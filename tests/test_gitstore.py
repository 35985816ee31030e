"""The run-private git repository (server/minion/sandbox/gitstore.py), against real repos.

The user's repository has everything the store must keep out: a long history with a
secret committed and removed beyond the window, an excluded key committed and removed
inside it, a tracked ``.env`` (exclude ``.env*``) changed in the window and staged again in
the user's index, a stash with an untracked file, a second worktree, a submodule whose
config has a token in its URL, a remote with a token, and a dirty work tree. What the store
may hold is computed here independently of the code under test: `git ls-tree` of every
commit of the window, and fnmatch for the exclude list.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path

import pytest
from minion.sandbox.gitstore import PLACEHOLDER, GitStore, build_store, sync
from minion.snapshot import Snapshot, commit_result, take_snapshot
from support.fingerprint import assert_unchanged, fingerprint
from support.gitrepo import DEFAULT_FILES, make_repo, run_git, write_files

EXCLUDE = (".env*", "*.pem", "id_*")
HISTORY = 50

ENV_OLD = "MARKER-env-first-4d1c"  # .env from the root commit until inside the window
ENV_NEW = "MARKER-env-changed-7a2e"  # .env changed inside the window
ENV_STAGED = "MARKER-env-staged-90b3"  # .env as the user's index has it (so S has it)
ENV_LOCAL = "MARKER-env-local-1f7d"  # an untracked .env.local
KEY = "MARKER-id-rsa-5c88"  # deploy/id_rsa, committed and removed inside the window
OLD_SECRET = "MARKER-old-secret-e3a0"  # config/leaked.txt, committed and removed beyond it
STASHED = "MARKER-stash-untracked-2b6f"  # an untracked file in `git stash -u`
SUB_TOKEN = "MARKER-submodule-token-8d41"  # in .git/modules/vendor/sub/config
REMOTE_TOKEN = "MARKER-remote-token-c7e9"  # in .git/config
OTHER_WORKTREE = "MARKER-other-worktree-6a15"  # a folder name, in .git/worktrees/*/gitdir
MARKERS = (ENV_OLD, ENV_NEW, ENV_STAGED, ENV_LOCAL, KEY, OLD_SECRET, STASHED, SUB_TOKEN,
           REMOTE_TOKEN, OTHER_WORKTREE)

needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap not installed")


def _commit(repo: Path, message: str) -> None:
    run_git(repo, "add", "-A")
    run_git(repo, "commit", "-q", "-m", message)


def _build_user_repo(root: Path) -> Path:
    """73 first-parent commits; the window of S (S + 50) reaches commit "line 20"."""
    sub = make_repo(root / "sub-origin", {"lib.py": "x = 1\n"})
    repo = make_repo(root / "user repo", {**DEFAULT_FILES, "app.py": "line 0\n", ".env": f"TOKEN={ENV_OLD}\n"})
    write_files(repo, {"config/leaked.txt": f"password={OLD_SECRET}\n"})
    _commit(repo, "add config")
    run_git(repo, "rm", "-q", "config/leaked.txt")
    _commit(repo, "remove config")
    for i in range(1, 70):
        if i == 30:  # a merge inside the window, of a two-commit side branch
            run_git(repo, "checkout", "-q", "-b", "side")
            for n in (1, 2):
                write_files(repo, {"side.txt": f"side {n}\n"})
                _commit(repo, f"side {n}")
            run_git(repo, "checkout", "-q", "main")
            run_git(repo, "merge", "-q", "--no-ff", "-m", "merge side", "side")
            continue
        if i == 45:
            write_files(repo, {"deploy/id_rsa": f"-----BEGIN KEY-----\n{KEY}\n"})
        elif i == 50:
            (repo / "deploy/id_rsa").unlink()
        elif i == 64:
            write_files(repo, {".env": f"TOKEN={ENV_NEW}\n"})
        elif i == 66:
            run_git(repo, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(sub), "vendor/sub")
            run_git(repo / "vendor/sub", "remote", "set-url", "origin",
                    f"https://x-access-token:{SUB_TOKEN}@github.com/o/sub.git")
        with (repo / "app.py").open("a") as app:
            app.write(f"line {i}\n")
        _commit(repo, f"line {i}")
    run_git(repo, "remote", "add", "origin", f"https://u:{REMOTE_TOKEN}@example.com/r.git")
    write_files(repo, {"stash-note.txt": f"{STASHED}\n", "app.py": "stashed edit\n"})
    run_git(repo, "stash", "-q", "-u")
    write_files(repo, {".env": f"TOKEN={ENV_STAGED}\n"})
    run_git(repo, "add", ".env")
    with (repo / "app.py").open("a") as app:
        app.write("dirty line\n")
    write_files(repo, {"new_module.py": "def new():\n    pass\n", ".env.local": f"K={ENV_LOCAL}\n"})
    return repo


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    return _build_user_repo(tmp_path_factory.mktemp("template"))


@pytest.fixture
def user_repo(template, tmp_path) -> Path:
    """A fresh copy of the template (the submodule's paths are relative), plus a second
    worktree (whose path git records absolutely)."""
    repo = tmp_path / template.name
    shutil.copytree(template, repo, symlinks=True)
    run_git(repo, "worktree", "add", "-q", "--detach", str(tmp_path / OTHER_WORKTREE))
    return repo


@dataclass
class Run:
    repo: Path
    snapshot: Snapshot
    store: GitStore
    home: Path  # empty

    @property
    def worktree(self) -> Path:
        return self.snapshot.worktree

    def git(self, *args: str) -> subprocess.CompletedProcess[bytes]:
        """git on the store and the worktree, with nothing of the host's git config.
        GIT_OPTIONAL_LOCKS=0: `git status` must not refresh the store's index here, as it
        cannot inside (the read-only case has its own test)."""
        env = {"PATH": os.environ["PATH"], "HOME": str(self.home), "LC_ALL": "C",
               "GIT_CONFIG_NOSYSTEM": "1", "GIT_CEILING_DIRECTORIES": str(self.worktree.parent),
               "GIT_OPTIONAL_LOCKS": "0"}
        return subprocess.run(["git", f"--git-dir={self.store.path}", f"--work-tree={self.worktree}", *args],
                              cwd=self.worktree, env=env, capture_output=True, check=True)

    def out(self, *args: str) -> str:
        proc = self.git(*args)
        assert proc.stderr == b"", proc.stderr
        return proc.stdout.decode()


@pytest.fixture
def start(tmp_path):
    """start(repo, run_id, history=HISTORY) -> Run: a snapshot and its store, the build
    timed in start.seconds. All stores share one cache folder."""
    home = tmp_path / "empty home"
    home.mkdir()

    def start(repo: Path, run_id: str, history: int = HISTORY) -> Run:
        snapshot = take_snapshot(repo, run_id, worktrees_dir=tmp_path / "worktrees", exclude=EXCLUDE)
        began = time.perf_counter()
        store = build_store(repo_root=repo, worktree=snapshot.worktree, dest=tmp_path / "stores" / run_id,
                            cache_dir=tmp_path / "cache", history=history, exclude=EXCLUDE)
        start.seconds = time.perf_counter() - began
        return Run(repo, snapshot, store, home)

    return start


# --- the expected content, computed independently -----------------------------------------


def is_excluded(path: str) -> bool:
    """EXCLUDE's patterns have no slash: gitignore matches them against the file name."""
    return any(fnmatch(path.rsplit("/", 1)[-1], pattern) for pattern in EXCLUDE)


def window(repo: Path, tip: str, history: int) -> tuple[list[str], list[str]]:
    """(first-parent chain, merged-in other parents) of the window."""
    chain = run_git(repo, "rev-list", "--first-parent", f"--max-count={history + 1}", tip).split()
    sides = []
    for commit in chain[:-1]:
        sides += [p for p in run_git(repo, "rev-list", "--parents", "-n1", commit).split()[2:]
                  if p not in chain and p not in sides]
    return chain, sides


def expected(repo: Path, tip: str, history: int) -> tuple[set[str], set[str]]:
    """(objects the store must hold but the placeholder, blobs it must replace)."""
    chain, sides = window(repo, tip, history)
    objects, allowed, hidden = set(chain + sides), set(), set()
    for commit in chain + sides:
        objects.add(run_git(repo, "rev-parse", f"{commit}^{{tree}}"))
        listing = subprocess.run(["git", "-C", str(repo), "ls-tree", "-r", "-t", "-z", commit],
                                 capture_output=True, check=True).stdout.decode()
        for record in filter(None, listing.split("\0")):
            meta, path = record.split("\t", 1)
            _, kind, oid = meta.split()
            if kind == "tree":
                objects.add(oid)
            elif kind == "blob":
                (hidden if is_excluded(path) else allowed).add(oid)
    return objects | allowed, hidden - allowed


def store_objects(run: Run) -> set[str]:
    out = run.out("--no-replace-objects", "cat-file", "--batch-all-objects", "--batch-check=%(objectname)")
    return set(out.split())


def placeholder_oid(run: Run) -> str:
    return subprocess.run(["git", "hash-object", "--stdin"], input=PLACEHOLDER, capture_output=True,
                          check=True).stdout.decode().strip()


def store_bytes(run: Run) -> bytes:
    """Every file of the store as it is, and every object decompressed, replaced or not."""
    raw = b"".join(p.read_bytes() for p in sorted(run.store.path.rglob("*")) if p.is_file())
    objects = [run.git(*flags, "cat-file", "--batch-all-objects", "--batch").stdout
               for flags in ((), ("--no-replace-objects",))]
    return raw + b"".join(objects)


def assert_only_window(run: Run, tip: str, history: int) -> None:
    allowed, replaced = expected(run.repo, tip, history)
    assert replaced  # the exclude list matters in this history
    assert store_objects(run) == allowed | {placeholder_oid(run)}
    refs = run.out("for-each-ref", "--format=%(refname) %(objectname)").splitlines()
    assert sorted(refs) == sorted(f"refs/replace/{oid} {placeholder_oid(run)}" for oid in replaced)


# --- what the store holds ---------------------------------------------------------------


def test_the_store_holds_the_window_and_nothing_secret(user_repo, start):
    before = fingerprint(user_repo)
    user_objects = subprocess.run(["git", "-C", str(user_repo), "cat-file", "--batch-all-objects", "--batch"],
                                  capture_output=True, check=True).stdout
    user_files = b"".join(p.read_bytes() for p in (user_repo / ".git").rglob("*") if p.is_file())
    everything = user_objects + user_files + (user_repo / ".env.local").read_bytes()
    assert [m for m in MARKERS if m.encode() not in everything] == []  # positive control

    run = start(user_repo, "run1")

    assert_only_window(run, run.snapshot.commit, HISTORY)
    leaked = store_bytes(run)
    assert [m for m in MARKERS if m.encode() in leaked] == []
    # Nothing of the user's gitdir but the safe config keys and info/exclude.
    assert sorted(p.name for p in run.store.path.iterdir()) == [
        "HEAD", "config", "index", "info", "objects", "refs", "shallow"]
    assert [p.name for p in (run.store.path / "info").iterdir()] == ["exclude"]
    assert sorted(p.name for p in (run.store.path / "objects").iterdir()) == sorted(
        ["pack", placeholder_oid(run)[:2]])  # no info/alternates
    config = (run.store.path / "config").read_text()
    assert "url" not in config and "remote" not in config and "bare = false" in config
    assert (run.store.path / "HEAD").read_text() == run.snapshot.commit + "\n"
    # The index is the worktree's, skip-worktree bits (the hidden .env) and all.
    worktree_index = run_git(run.worktree, "ls-files", "-s", "-v")
    assert run.out("ls-files", "-s", "-v").strip() == worktree_index
    assert "S 100644" in worktree_index
    assert_unchanged(before, fingerprint(user_repo))


def test_git_works_inside_on_the_window(user_repo, start):
    run = start(user_repo, "run1")
    chain, sides = window(user_repo, run.snapshot.commit, HISTORY)
    assert len(chain) == HISTORY + 1 and len(sides) == 1

    assert run.out("log", "--first-parent", "--format=%H").split() == chain
    # Without --first-parent, the merged-in parent shows too, as a root; its parent does not.
    logged = dict(line.split(",") for line in run.out("log", "--format=%H,%P").splitlines())
    assert sorted(logged) == sorted(chain + sides)
    assert logged[sides[0]] == logged[chain[-1]] == ""  # cut: the boundary and the other parent
    assert run.out("rev-parse", "--is-shallow-repository").strip() == "true"

    blame = {}  # line text -> commit ("-l -s": "<commit> <number>) <text>")
    for line in run.out("blame", "-l", "-s", "app.py").splitlines():
        blame[line.split(") ", 1)[1]] = line.split(" ", 1)[0]
    assert blame["line 40"] == run_git(user_repo, "log", "--format=%H", "--grep=^line 40$", "main")
    assert blame["line 5"] == "^" + chain[-1][:39]  # older than the window: the boundary commit
    # History across the excluded files' changes: the placeholder, no missing object.
    patches = run.out("log", "-p", "--stat")
    assert "deploy/id_rsa" in patches and "minion: this file matches" in patches
    assert run.out("show", "HEAD:.env") == run.out("show", ":.env") == PLACEHOLDER.decode()
    assert "app.py" in run.out("diff", "HEAD~3", "--stat")
    assert run.out("show", f"{sides[0]}:side.txt") == "side 2\n"

    assert run.out("status", "--porcelain") == ""
    (run.worktree / "app.py").write_text("edited in the sandbox\n")
    assert "+edited in the sandbox" in run.out("diff")
    assert run.out("status", "--porcelain") == " M app.py\n"


@needs_bwrap
def test_git_reads_the_store_read_only_through_the_pointer_file(user_repo, start, tmp_path):
    """As the sandbox will have it: the store bound read-only at /run/minion/git and the
    worktree's .git a pointer to it."""
    run = start(user_repo, "run1")
    (run.worktree / "app.py").write_text("edited in the sandbox\n")
    pointer = tmp_path / "pointer"
    pointer.write_text("gitdir: /run/minion/git\n")
    script = ("touch /run/minion/git/x 2>/dev/null && echo WRITABLE; "
              "git status --porcelain; git log --oneline | wc -l; git diff --shortstat; git show HEAD:.env")
    proc = subprocess.run(
        ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/run",
         "--ro-bind", str(run.store.path), "/run/minion/git", "--bind", str(run.worktree), str(run.worktree),
         "--ro-bind", str(pointer), str(run.worktree / ".git"), "--chdir", str(run.worktree), "--clearenv",
         "--setenv", "PATH", os.environ["PATH"], "--setenv", "HOME", str(run.home),
         "--setenv", "GIT_CONFIG_NOSYSTEM", "1", "--", "/bin/sh", "-c", script],
        capture_output=True, text=True, check=False)
    assert (proc.returncode, proc.stderr) == (0, "")
    assert proc.stdout.split("\n") == [
        " M app.py", str(HISTORY + 2), " 1 file changed, 1 insertion(+), 70 deletions(-)",
        *PLACEHOLDER.decode().split("\n")]


def test_history_zero_is_the_snapshot_alone(user_repo, start):
    run = start(user_repo, "run1", history=0)
    assert run.out("log", "--format=%H").split() == [run.snapshot.commit]
    assert_only_window(run, run.snapshot.commit, 0)
    assert run.out("status", "--porcelain") == ""
    assert [m for m in MARKERS if m.encode() in store_bytes(run)] == []


def test_a_short_history_and_an_unborn_head(tmp_path, start):
    short = make_repo(tmp_path / "short")
    for n in (1, 2):
        write_files(short, {"app.py": f"v{n}\n"})
        _commit(short, f"v{n}")
    run = start(short, "short")
    assert len(run.out("log", "--format=%H").split()) == 4  # S and the three commits there are
    assert run.out("status", "--porcelain") == ""

    unborn = make_repo(tmp_path / "unborn", {"a.py": "a = 1\n", ".env": "K=v\n"}, commit=False)
    run = start(unborn, "unborn")
    assert run.out("log", "--format=%H").split() == [run.snapshot.commit]
    assert run.out("show", "HEAD:a.py") == "a = 1\n"
    assert run.out("status", "--porcelain") == ""


def test_a_split_index_is_copied_whole(user_repo, start):
    run_git(user_repo, "config", "core.splitIndex", "true")
    run = start(user_repo, "run1")
    assert any((user_repo / ".git/worktrees/run1").glob("sharedindex.*"))  # positive control
    assert list(run.store.path.glob("sharedindex.*")) == []
    assert run.out("status", "--porcelain") == ""
    assert run.out("ls-files", "-s") == run_git(run.worktree, "ls-files", "-s") + "\n"


# --- the cache ----------------------------------------------------------------------------


def pack_inodes(store: GitStore) -> set[int]:
    return {p.stat().st_ino for p in (store.path / "objects/pack").glob("*.pack")}


def cache_state(cache: Path) -> dict[str, tuple[int, int]]:
    return {p.relative_to(cache).as_posix(): (p.stat().st_ino, p.stat().st_mtime_ns)
            for p in cache.rglob("*")}


def test_the_cache_is_reused_for_the_same_head_only(user_repo, start, tmp_path):
    before = fingerprint(user_repo)
    cache = tmp_path / "cache"
    first = start(user_repo, "run1")
    cold = start.seconds
    [entry] = cache.iterdir()
    cached = {p.stat().st_ino for p in entry.rglob("*.pack")}
    state = cache_state(cache)

    second = start(user_repo, "run2")
    warm = start.seconds
    assert cache_state(cache) == state  # nothing packed or rewritten in the cache
    assert cached < pack_inodes(second.store) and cached < pack_inodes(first.store)  # one shared file
    assert len(pack_inodes(second.store)) == 2  # plus the run's own small pack
    assert_only_window(second, second.snapshot.commit, HISTORY)
    print(f"build: cold {cold * 1000:.0f} ms, cache hit {warm * 1000:.0f} ms")
    assert_unchanged(before, fingerprint(user_repo))

    write_files(user_repo, {"later.py": "x = 2\n"})
    _commit(user_repo, "later")
    third = start(user_repo, "run3")
    assert len(list(cache.iterdir())) == 2
    assert not cached & pack_inodes(third.store)
    assert_only_window(third, third.snapshot.commit, HISTORY)
    other_depth = start(user_repo, "run4", history=10)
    assert len(list(cache.iterdir())) == 3
    assert_only_window(other_depth, other_depth.snapshot.commit, 10)


def test_the_store_and_the_cache_may_be_on_other_file_systems(user_repo, tmp_path):
    """pack-objects renames its temporary files into place, and a cached pack cannot be
    hard-linked across file systems (minion's state dir is often not on the repo's disk)."""
    shm = Path("/dev/shm")
    if not shm.is_dir() or shm.stat().st_dev == tmp_path.stat().st_dev:
        pytest.skip("needs /dev/shm on a file system of its own")
    elsewhere = Path(tempfile.mkdtemp(dir=shm))
    home = tmp_path / "home"
    home.mkdir()
    try:
        for run_id, dest, cache in (("a", elsewhere / "store", tmp_path / "cache"),
                                    ("b", tmp_path / "store", elsewhere / "cache")):
            snapshot = take_snapshot(user_repo, run_id, worktrees_dir=tmp_path / "worktrees", exclude=EXCLUDE)
            store = build_store(repo_root=user_repo, worktree=snapshot.worktree, dest=dest, cache_dir=cache,
                                history=HISTORY, exclude=EXCLUDE)
            run = Run(user_repo, snapshot, store, home)
            assert_only_window(run, snapshot.commit, HISTORY)
            assert run.out("status", "--porcelain") == ""
    finally:
        shutil.rmtree(elsewhere)


def test_an_amended_away_secret_does_not_come_back_from_the_cache(user_repo, start):
    secret = "MARKER-amended-away-0c4d"
    write_files(user_repo, {"settings.py": f"API_KEY = '{secret}'\n"})
    _commit(user_repo, "settings")
    with_secret = start(user_repo, "run1")
    assert secret.encode() in store_bytes(with_secret)  # positive control: it was committed

    write_files(user_repo, {"settings.py": "API_KEY = os.environ['API_KEY']\n"})
    run_git(user_repo, "commit", "-q", "-a", "--amend", "-m", "settings")
    amended = start(user_repo, "run2")
    assert secret.encode() not in store_bytes(amended)
    assert_only_window(amended, amended.snapshot.commit, HISTORY)


# --- following the run ------------------------------------------------------------------


def test_sync_follows_the_hosts_commits(user_repo, start):
    before = fingerprint(user_repo)
    run = start(user_repo, "run1")
    assert sync(run.store) is False  # nothing changed since the build

    secret_blob = run_git(run.worktree, "rev-parse", "HEAD:.env")
    # The agent's work: an edit, a new file, an excluded file of its own, and a file whose
    # name tries to pass the hidden .env blob off as an allowed path in `git` line output.
    (run.worktree / "app.py").write_text("rewritten\n")
    write_files(run.worktree, {"feature.py": "def feature():\n    return 1\n",
                               ".env.agent": "AGENT=1\n", f"x\n{secret_blob} harmless.txt": "y\n"})
    first = commit_result(run.snapshot, branch="minion/run1", message="agent work")
    assert first
    assert sync(run.store) is True
    assert (run.store.path / "HEAD").read_text() == first + "\n"
    assert run.out("log", "--first-parent", "--format=%H").split() == (
        [first] + window(user_repo, run.snapshot.commit, HISTORY)[0])
    assert run.out("show", "HEAD:feature.py") == "def feature():\n    return 1\n"
    assert run.out("show", "HEAD:.env.agent") == PLACEHOLDER.decode()
    # The file with a newline in its name is left out by the commit guard: still untracked.
    assert run.out("status", "--porcelain", "--untracked-files=no") == ""
    assert "harmless.txt" not in run.out("ls-tree", "-r", "--name-only", "HEAD")
    # The boundary stays where it was: the window grew by the new commit.
    assert_only_window(run, first, HISTORY + 1)
    assert [m for m in MARKERS if m.encode() in store_bytes(run)] == []
    assert sync(run.store) is False

    (run.worktree / "feature.py").write_text("def feature():\n    return 2\n")
    second = commit_result(run.snapshot, branch="minion/run1", message="more")
    assert sync(run.store) is True
    assert run.out("log", "-1", "--format=%H") == second + "\n"
    assert_only_window(run, second, HISTORY + 2)
    assert commit_result(run.snapshot, branch="minion/run1", message="nothing") is None
    sync(run.store)  # `git add -A` rewrote the index file: copied again, the same
    assert run.out("log", "-1", "--format=%H") == second + "\n"
    assert sync(run.store) is False

    # An index change alone (the host staged something) is copied too.
    write_files(run.worktree, {"staged.py": "s = 1\n"})
    run_git(run.worktree, "add", "staged.py")
    assert sync(run.store) is True
    assert run.out("status", "--porcelain", "--untracked-files=no") == "A  staged.py\n"
    assert_unchanged(before, fingerprint(user_repo))


def test_sync_after_the_host_reset_the_worktree_packs_the_new_window(user_repo, start):
    run = start(user_repo, "run1", history=5)
    (run.worktree / "app.py").write_text("rewritten\n")
    commit_result(run.snapshot, branch="minion/run1", message="agent work")
    sync(run.store)
    target = run_git(user_repo, "rev-parse", "main~10")
    run_git(run.worktree, "reset", "-q", "--hard", target)
    assert sync(run.store) is True
    assert run.out("log", "--first-parent", "--format=%H").split() == window(user_repo, target, 5)[0]
    assert run.out("status", "--porcelain") == ""
