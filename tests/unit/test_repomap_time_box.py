"""A time-boxed repo map on a cold cache: the files parsed in time, the task's first; the
rest parsed into the cache in the background; and what a failure there leaves."""

import sqlite3

import pytest

from minion.context import RepoMapCache, build_repo_map, repomap
from support.gitrepo import make_repo
from support.repomap_workers import hold_back_workers, use_workers

FILES = {
    "billing/invoice.py": (
        "from billing.tax import tax_rate\n\n\n"
        "def compute_invoice_total(lines):\n    return sum(lines) * (1 + tax_rate())\n"
    ),
    "billing/tax.py": "def tax_rate():\n    return 0.2\n",
    "api/routes.py": (
        "from billing.invoice import compute_invoice_total\n\n\n"
        "def get_invoice(request):\n    return compute_invoice_total(request.lines)\n"
    ),
    **{f"misc/widget_{i}.py": f"class Widget{i}:\n    def render(self):\n        return {i}\n" for i in range(9)},
}
FOCUS = "billing/invoice.py"
PARTIAL = "billing/invoice.py:\n4 def compute_invoice_total(lines):\n\n(11 of 12 files not indexed yet: not shown)\n"


@pytest.fixture
def repo(tmp_path):
    return make_repo(tmp_path / "r", FILES)


def _stored_maps(path) -> int:
    db = sqlite3.connect(path)
    try:
        return db.execute("SELECT count(*) FROM maps").fetchone()[0]
    finally:
        db.close()


@pytest.mark.parametrize("focus", [{"focus_files": [FOCUS]}, {"focus_idents": ["invoice"]}])
def test_a_cold_map_in_a_time_box_shows_the_task_file_and_caches_the_rest_behind(repo, tmp_path, monkeypatch,
                                                                                   focus):
    full = build_repo_map(repo, tree="HEAD", budget_tokens=4096, **focus)
    use_workers(monkeypatch)
    release = hold_back_workers(monkeypatch, first=FOCUS)  # the other files come after the deadline
    path = tmp_path / "tags.sqlite"
    cache = RepoMapCache(path)
    try:
        partial = build_repo_map(repo, tree="HEAD", budget_tokens=4096, cache=cache, parse_seconds=0, **focus)
    finally:
        release.set()
    assert partial == PARTIAL
    assert _stored_maps(path) == 0  # its key stands for the full map

    cache.indexing.result(timeout=60)
    assert cache.parsed == len(FILES)
    again = RepoMapCache(path)  # a new process: every file's tags are in the file
    assert build_repo_map(repo, tree="HEAD", budget_tokens=4096, cache=again, parse_seconds=0, **focus) == full
    assert again.parsed == 0 and again.indexing is None and _stored_maps(path) == 1
    assert build_repo_map(repo, tree="HEAD", budget_tokens=4096, cache=again, **focus) == full


@pytest.mark.parametrize("budget", [10, 11, 25, 26])
def test_a_partial_map_keeps_to_the_budget_with_its_note(repo, monkeypatch, budget):
    use_workers(monkeypatch)
    release = hold_back_workers(monkeypatch, first=FOCUS)
    try:
        text = build_repo_map(repo, tree="HEAD", focus_files=[FOCUS], budget_tokens=budget, parse_seconds=0)
    finally:
        release.set()
    assert len(text) <= budget * 4
    note = PARTIAL.split("\n\n")[1]
    assert text == {10: "", 11: note, 25: note, 26: PARTIAL}[budget]  # the note alone, or nothing


def test_the_work_tree_map_is_time_boxed_too(repo, monkeypatch):
    use_workers(monkeypatch)
    release = hold_back_workers(monkeypatch, first=FOCUS)
    cache = RepoMapCache()
    try:
        assert build_repo_map(repo, focus_files=[FOCUS], budget_tokens=4096, cache=cache, parse_seconds=0) == PARTIAL
    finally:
        release.set()
    cache.indexing.result(timeout=60)
    assert build_repo_map(repo, focus_files=[FOCUS], budget_tokens=4096, cache=cache) == build_repo_map(
        repo, focus_files=[FOCUS], budget_tokens=4096)


def test_the_task_files_are_parsed_first_then_their_neighbours():
    paths = ["a/x.py", "b/focus.py", "b/sub/w.py", "b/y.py", "c/z.py", "top.py"]
    assert repomap._parse_order(paths, {"b/focus.py"}) == ["b/focus.py", "b/y.py", "a/x.py", "b/sub/w.py",
                                                           "c/z.py", "top.py"]
    assert repomap._parse_order(paths, {"top.py"}) == ["top.py", "a/x.py", "b/focus.py", "b/sub/w.py", "b/y.py",
                                                       "c/z.py"]
    assert repomap._parse_order(paths, set()) == paths


def test_a_background_failure_keeps_the_partial_map_and_what_was_parsed(repo, tmp_path, monkeypatch):
    full = build_repo_map(repo, tree="HEAD", focus_files=[FOCUS], budget_tokens=4096)
    use_workers(monkeypatch)
    last = "misc/widget_8.py"  # parsed last: its worker fails after the others' files

    def lacking_a_blob(entries):
        return [(path, "0" * 40 if path == last else blob) for path, blob in entries]

    release = hold_back_workers(monkeypatch, first=FOCUS, on_release=lacking_a_blob)
    path = tmp_path / "tags.sqlite"
    cache = RepoMapCache(path)
    try:
        partial = build_repo_map(repo, tree="HEAD", focus_files=[FOCUS], budget_tokens=4096, cache=cache,
                                 parse_seconds=0)
    finally:
        release.set()
    assert partial == PARTIAL
    # The process goes on; the failure is the background's to tell, and the rest is cached.
    with pytest.raises(RuntimeError, match=r"(?s)repo map worker failed: .*b'missing'\] for blob 0{40}"):
        cache.indexing.result(timeout=60)
    assert cache.parsed == len(FILES) - 1
    again = RepoMapCache(path)
    assert build_repo_map(repo, tree="HEAD", focus_files=[FOCUS], budget_tokens=4096, cache=again) == full
    assert again.parsed == 1


def test_a_failure_while_the_map_waits_is_raised(repo, monkeypatch):
    use_workers(monkeypatch)
    monkeypatch.setattr(repomap, "__name__", "minion.context.no_such_module")  # what a worker imports
    with pytest.raises(RuntimeError, match="(?s)repo map worker failed: .*no_such_module"):
        build_repo_map(repo, tree="HEAD", focus_files=[FOCUS], parse_seconds=0)  # it waits for the focus file
