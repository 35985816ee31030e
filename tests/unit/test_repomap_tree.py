"""The repo map of a git tree (read from the object store alone), its caches and tag format."""

import marshal
import os
import random
import shutil
import sqlite3
import subprocess
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath

import pytest
from tree_sitter import QueryCursor

from minion.context import RepoMapCache, build_repo_map, repomap, symbols
from minion.context.languages import language_for
from minion.context.symbols import analyze
from support.gitrepo import make_repo, run_git, write_files
from support.polyglot import FILES, make_polyglot_repo

LAYERED = {
    "app/main.py": "from store import load_key, open_store\n\n\ndef main():\n    return open_store(load_key())\n",
    "app/store.py": "def open_store(key):\n    return key\n",
    "secrets/keys.py": "def load_key():\n    return 'hunter2'\n",
    "config/prod.secret.py": "def prod_password():\n    return 'x'\n",
}
EXCLUDE = ["secrets/", "*.secret.py"]

MAP_FILES = {
    "billing/invoice.py": (
        "from billing.tax import tax_rate\n\n\nclass Invoice:\n    def total(self):\n"
        "        return compute_invoice_total(self.lines)\n\n\n"
        "def compute_invoice_total(lines):\n    return sum(lines) * (1 + tax_rate())\n"
    ),
    "billing/tax.py": "def tax_rate():\n    return 0.2\n",
    "api/routes.py": (
        "from billing.invoice import compute_invoice_total\n\n\n"
        "def get_invoice(request):\n    return compute_invoice_total(request.lines)\n"
    ),
    **{f"misc/unrelated_{i}.py": f"class Widget{i}:\n    def render(self):\n        return {i}\n" for i in range(4)},
}


@pytest.fixture
def polyglot(tmp_path) -> Path:
    return make_polyglot_repo(tmp_path / "poly glot")


@pytest.fixture
def map_repo(tmp_path) -> Path:
    return make_repo(tmp_path / "map repo", MAP_FILES)


def _tree(repo: Path) -> str:
    return run_git(repo, "rev-parse", "HEAD^{tree}")


def _count_calls(monkeypatch, *names: str) -> Counter:
    calls: Counter = Counter()
    for name in names:
        real = getattr(repomap, name)

        def counting(*args, _real=real, _name=name, **kwargs):
            calls[_name] += 1
            return _real(*args, **kwargs)

        monkeypatch.setattr(repomap, name, counting)
    return calls


def _workers(monkeypatch) -> None:
    monkeypatch.setattr(repomap, "_PARALLEL_MIN_FILES", 2)
    monkeypatch.setattr(repomap.os, "cpu_count", lambda: 3)


# tree mode


@pytest.mark.parametrize(
    "focus", [{}, {"focus_idents": ["Point"]}, {"focus_files": ["go/server.go"], "budget_tokens": 60}]
)
def test_the_map_of_a_tree_is_the_map_of_its_clean_checkout(polyglot, focus):
    kwargs = {"budget_tokens": 4096, **focus}
    expected = build_repo_map(polyglot, **kwargs)
    assert expected
    assert build_repo_map(polyglot, tree="HEAD", **kwargs) == expected
    assert build_repo_map(polyglot, tree=_tree(polyglot), **kwargs) == expected


@pytest.mark.parametrize("parallel", [False, True])
def test_the_map_of_a_tree_reads_nothing_from_the_work_tree(polyglot, monkeypatch, parallel):
    expected = build_repo_map(polyglot, budget_tokens=4096)
    commit = run_git(polyglot, "rev-parse", "HEAD")
    for child in polyglot.iterdir():
        if child.name != ".git":
            shutil.rmtree(child) if child.is_dir() else child.unlink()
    write_files(polyglot, {"py/shapes.py": "def only_in_the_work_tree():\n    pass\n"})
    if parallel:
        _workers(monkeypatch)
    cache = RepoMapCache()
    assert build_repo_map(polyglot, tree=commit, budget_tokens=4096, cache=cache) == expected
    assert cache.parsed == 12  # parsed from the object store, in workers or not
    assert "only_in_the_work_tree" in build_repo_map(polyglot, budget_tokens=4096)


def test_the_map_of_a_tree_in_a_bare_repo(polyglot, tmp_path):
    bare = tmp_path / "bare.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(polyglot), str(bare)], check=True)
    assert build_repo_map(bare, tree="HEAD", budget_tokens=4096) == build_repo_map(polyglot, budget_tokens=4096)


def test_many_blobs_stream_through_one_cat_file(tmp_path, monkeypatch):
    """More content than a pipe holds, serially and in workers: nothing waits forever."""
    files = {
        f"pkg/mod{i}.py": f"def function_{i}(x):\n    return helper_{(i + 1) % 300}(x)\n\n\n"
        f"def helper_{i}(x):\n    return x  # {'pad ' * 300}\n"
        for i in range(300)
    }
    repo = make_repo(tmp_path / "many", files)
    expected = build_repo_map(repo, focus_idents=["function_7"])
    monkeypatch.setattr(repomap, "_PARALLEL_MIN_FILES", 10**9)
    assert build_repo_map(repo, tree="HEAD", focus_idents=["function_7"]) == expected
    _workers(monkeypatch)
    assert build_repo_map(repo, tree="HEAD", focus_idents=["function_7"]) == expected


def test_a_worker_that_fails_says_why(polyglot, monkeypatch):
    _workers(monkeypatch)
    monkeypatch.setattr(repomap, "__name__", "minion.context.no_such_module")  # what a worker imports
    with pytest.raises(RuntimeError, match="(?s)repo map worker failed: .*no_such_module"):
        build_repo_map(polyglot, tree="HEAD")


def test_links_and_submodules_are_never_mapped(tmp_path):
    repo = make_repo(tmp_path / "r", {"real.py": "def real_one():\n    pass\n"})
    secret = tmp_path / "secret.py"
    secret.write_text("def secret_key():\n    pass\n")
    # A link's blob is its target: were links read, this one would map as Python.
    os.symlink("def leaked_by_link():\n    pass\n", repo / "link.py")
    os.symlink(secret, repo / "outside.py")
    run_git(repo, "add", "link.py", "outside.py")
    head = run_git(repo, "rev-parse", "HEAD")
    run_git(repo, "update-index", "--add", "--cacheinfo", f"160000,{head},vendor/sub.py")
    run_git(repo, "commit", "-qm", "links")
    assert "120000" in run_git(repo, "ls-tree", "HEAD") and "160000" in run_git(repo, "ls-tree", "-r", "HEAD")
    expected = "real.py:\n1 def real_one():\n"
    assert build_repo_map(repo, tree="HEAD", budget_tokens=4096) == expected
    assert build_repo_map(repo, budget_tokens=4096) == expected


@pytest.mark.parametrize("tree", [None, "HEAD"])
def test_excluded_paths_are_never_read_nor_mapped(tmp_path, monkeypatch, tree):
    repo = make_repo(tmp_path / "r", LAYERED)
    cache = RepoMapCache()
    everything = build_repo_map(repo, tree=tree, cache=cache, budget_tokens=4096)
    assert "load_key" in everything and "prod_password" in everything  # their tags are in the cache now
    # An edit not committed: the work tree map would hash it (read it) to know its content.
    write_files(repo, {"secrets/keys.py": "def load_key():\n    return 'hunter3'\n"})

    secret_paths = {"secrets/keys.py", "config/prod.secret.py"}
    secret_blobs = {run_git(repo, "rev-parse", f"HEAD:{path}") for path in secret_paths}
    read_paths, read_blobs = set(), set()
    real_read, real_blobs = repomap._read, repomap._blob_contents

    def recording_read(path):
        read_paths.add(path.relative_to(repo).as_posix())
        return real_read(path)

    def recording_blobs(root, blobs):
        read_blobs.update(blobs)
        return real_blobs(root, blobs)

    monkeypatch.setattr(repomap, "_read", recording_read)
    monkeypatch.setattr(repomap, "_blob_contents", recording_blobs)
    fresh = RepoMapCache()
    for cached in (cache, fresh):
        text = build_repo_map(repo, tree=tree, exclude=EXCLUDE, cache=cached, budget_tokens=4096)
        assert "secrets/" not in text and "load_key" not in text and "prod_password" not in text
        assert "app/main.py:" in text and "app/store.py:" in text
    assert fresh.parsed == 2
    assert not read_paths & secret_paths and not read_blobs & secret_blobs
    assert read_paths | read_blobs  # the recording works: the other files were read


# the rendered map's cache


def test_the_rendered_map_is_stored_by_tree_and_inputs(map_repo, tmp_path, monkeypatch):
    path = tmp_path / "cache" / "tags.sqlite"
    inputs = {"focus_idents": ["compute_invoice_total"], "focus_files": ["api/routes.py"]}
    text = build_repo_map(map_repo, tree="HEAD", cache=path, **inputs)
    calls = _count_calls(monkeypatch, "_load_tags", "_rank_definitions")

    again = RepoMapCache(path)  # a new process
    commit = run_git(map_repo, "rev-parse", "HEAD")
    for tree in ("HEAD", commit, _tree(map_repo)):
        assert build_repo_map(map_repo, tree=tree, cache=again, **inputs) == text
    same = {"focus_idents": ["compute_invoice_total"] * 2, "focus_files": [map_repo / "api" / "routes.py"]}
    assert build_repo_map(map_repo, tree="HEAD", cache=again, **same) == text
    assert again.parsed == 0 and calls == {}

    variants = [
        {**inputs, "focus_idents": ["tax_rate"]},
        {**inputs, "focus_files": []},
        {**inputs, "budget_tokens": 100},
        {**inputs, "max_file_bytes": 100},
        {**inputs, "exclude": ["billing/"]},
    ]
    for i, variant in enumerate(variants, 1):
        build_repo_map(map_repo, tree="HEAD", cache=again, **variant)
        assert calls == {"_load_tags": i, "_rank_definitions": i}
    assert again.parsed == 0  # the tags were cached all along

    write_files(map_repo, {"billing/tax.py": "def tax_rate():\n    return 0.3\n"})
    run_git(map_repo, "commit", "-qam", "tax")
    build_repo_map(map_repo, tree="HEAD", cache=again, **inputs)
    assert calls["_rank_definitions"] == len(variants) + 1 and again.parsed == 1
    # The work tree's map is never stored whole: its content has no name.
    build_repo_map(map_repo, cache=again, **inputs)
    build_repo_map(map_repo, cache=again, **inputs)
    assert calls["_rank_definitions"] == len(variants) + 3


def test_only_the_newest_rendered_maps_are_kept(map_repo, monkeypatch):
    monkeypatch.setattr(repomap, "_MAX_STORED_MAPS", 2)
    cache = RepoMapCache()
    for budget in (100, 200, 300):
        build_repo_map(map_repo, tree="HEAD", cache=cache, budget_tokens=budget)
    calls = _count_calls(monkeypatch, "_rank_definitions")
    build_repo_map(map_repo, tree="HEAD", cache=cache, budget_tokens=300)
    assert calls["_rank_definitions"] == 0
    build_repo_map(map_repo, tree="HEAD", cache=cache, budget_tokens=100)
    assert calls["_rank_definitions"] == 1


def test_threads_share_one_cache(map_repo, tmp_path):
    cache = RepoMapCache(tmp_path / "tags.sqlite")
    idents = [["compute_invoice_total"], ["tax_rate"], ["Widget3"], []] * 3
    expected = [build_repo_map(map_repo, tree="HEAD", focus_idents=i) for i in idents]
    with ThreadPoolExecutor(4) as threads:
        texts = list(threads.map(lambda i: build_repo_map(map_repo, tree="HEAD", focus_idents=i, cache=cache), idents))
    assert texts == expected


# the tags' format


def _packed(path: str, data: bytes) -> repomap._FileTags:
    return repomap._FileTags._make(marshal.loads(repomap._extract(path, data)))


@pytest.mark.parametrize("path", ["rust/lib.rs", "py/shapes.py", "ts/service.ts", "c/util.c"])
def test_tags_round_trip_through_the_packed_format(path):
    data = FILES[path].encode()
    tags = _packed(path, data)
    symbols, references = analyze(language_for(path), data)
    definitions = repomap._api(symbols)
    assert definitions and references
    assert repomap._unpack(tags) == [(line, parent, signature) for _, _, line, parent, signature in definitions]
    assert tags.defined == repomap._hashes(name for name, *_ in definitions)
    assert tags.referenced == repomap._hashes(references)
    assert tags.uses == repomap._ints([uses for uses, _ in references.values()])
    assert tags.mentions == repomap._ints([mentions for _, mentions in references.values()])


def test_impl_blocks_and_second_definitions_define_no_name():
    data = FILES["rust/lib.rs"].encode()
    definitions = repomap._api(analyze(language_for("rust/lib.rs"), data)[0])
    flagged = [(kind, name, flag) for (name, kind, *_), flag in zip(definitions, _packed("rust/lib.rs", data).defines)]
    assert ("impl", "Point", 0) in flagged and ("struct", "Point", 1) in flagged
    assert [flag for _, name, flag in flagged if name == "norm"] == [1, 0]  # the trait's, then the impl's
    elsewhere = b"impl Norm for Point {\n    fn norm(&self) -> f64 {\n        0.0\n    }\n}\n"
    assert _packed("norm.rs", elsewhere).defines == bytes([0, 1])  # Point is defined in another file


def test_a_used_names_flags_say_how_the_ranking_weighs_it():
    source = b"import lib\n\n\ndef run():\n    lib._private_helper(lib.parse_config_file(run))\n"
    names = sorted(analyze(language_for("a.py"), source)[1])
    assert dict(zip(names, _packed("a.py", source).flags)) == {
        "_private_helper": repomap._PRIVATE,
        "lib": 0,
        "parse_config_file": repomap._SPECIFIC,
        "run": repomap._OWN,  # the file defines it: no edge
    }


def test_files_never_mapped_are_stored_as_none():
    assert marshal.loads(repomap._extract("a.py", b"def f():\0\n")) is None
    assert marshal.loads(repomap._extract("a.py", None)) is None
    assert marshal.loads(repomap._extract("a.go", b"// Code generated by x. DO NOT EDIT.\nfunc F() {}\n")) is None


def test_generated_markers_count_only_as_markers():
    assert marshal.loads(repomap._extract("a.js", b"/** @generated */\nfunction f() {}\n")) is None
    assert marshal.loads(repomap._extract("a.py", b"# generated by hand, with care\ndef f():\n    pass\n"))


def _mangled(data: bytes, rng: random.Random) -> bytes:
    """``data`` with a few spans cut, doubled or cut short: trees with errors and missing nodes."""
    for _ in range(rng.randint(1, 4)):
        i = rng.randrange(len(data) + 1)
        j = min(len(data), i + rng.randint(0, 30))
        data = rng.choice([data[:i] + data[j:], data[:i] + data[i:j] * 2 + data[j:], data[:j]])
    return data


@pytest.mark.parametrize("path", sorted(path for path in FILES if language_for(path)))
def test_one_walk_finds_what_each_query_finds_in_the_whole_tree(path):
    """analyze walks a tree once: the tags query finds the definitions and the references,
    then the definitions query, run at each definition alone, pairs it with its name."""
    spec, rng = language_for(path), random.Random(path)
    for data in [FILES[path].encode(), *(_mangled(FILES[path].encode(), rng) for _ in range(40))]:
        tree = spec.parse(data)
        definitions, captures = symbols._tagged(spec, tree)
        assert definitions == symbols._definitions(QueryCursor(spec.definitions_query).matches(tree.root_node))
        references = QueryCursor(spec.references_query).captures(tree.root_node)
        assert {kind: set(captures.get(kind, ())) for kind in symbols._REFERENCE_KINDS} == {
            kind: set(references.get(kind, ())) for kind in symbols._REFERENCE_KINDS
        }


def test_a_cache_file_of_the_json_format_is_not_read(map_repo, tmp_path):
    path = tmp_path / "tags.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE tags (key TEXT PRIMARY KEY, data TEXT NOT NULL)")
    blobs = run_git(map_repo, "ls-files", "-s").split("\n")
    with db:  # each file "never mapped", were these read
        db.executemany("INSERT INTO tags VALUES (?, 'null')", [(f"3:python:{b.split()[1]}",) for b in blobs])
    db.close()
    cache = RepoMapCache(path)
    assert build_repo_map(map_repo, cache=cache) == build_repo_map(map_repo)
    assert cache.parsed == len(MAP_FILES)


@pytest.mark.parametrize("path", ["a.py", "d/a.py", "..py", ".py", "d/.bashrc", "a.", "a.tar.gz", "d.x/Makefile", "x/..."])
def test_stem_and_suffix_are_pathlibs(path):
    assert repomap._stem_and_suffix(path) == (PurePosixPath(path).stem, PurePosixPath(path).suffix)
