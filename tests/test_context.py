"""context/: outlines and tags in every language, TODOs, the repo map, rule files, anchors."""

from pathlib import Path

import pytest

from minion.context import (
    Anchor,
    RepoMapCache,
    build_repo_map,
    definitions_and_references,
    find_todos,
    language_for,
    load_rules,
    outline,
    render_anchor,
    render_outline,
    repomap,
    todo_at,
)
from minion.context.symbols import walk
from support.gitrepo import make_repo, run_git, write_files
from support.polyglot import EXPECTED, EXPECTED_TODOS, FILES, make_polyglot_repo

# outlines and tags


@pytest.mark.parametrize("path", sorted(EXPECTED))
def test_outline_and_tags_in_every_language(path):
    expected_outline, expected_references = EXPECTED[path]
    symbols = outline(path, FILES[path])
    assert [(s.kind, s.name, depth) for s, depth in walk(symbols)] == expected_outline
    lines = FILES[path].splitlines()
    for symbol, _ in walk(symbols):
        assert symbol.name in symbol.signature
        assert lines[symbol.line - 1].strip() in symbol.signature  # its first line
        assert symbol.line <= symbol.end_line <= len(lines)

    definitions, references = definitions_and_references(path, FILES[path])
    assert [d.name for d in definitions] == [n for k, n, _ in expected_outline if k != "impl"]
    assert expected_references <= {r.name for r in references}
    # A definition's own name is not a reference to it.
    assert not {(d.name, d.line) for d in definitions} & {(r.name, r.line) for r in references}


def test_the_eleven_languages_by_extension():
    names = {
        "a.py": "python", "a.js": "javascript", "a.mjs": "javascript", "a.cjs": "javascript",
        "a.jsx": "javascript", "a.ts": "typescript", "a.tsx": "tsx", "a.go": "go", "a.rs": "rust",
        "A.java": "java", "a.c": "c", "a.h": "c", "a.cc": "cpp", "a.cpp": "cpp", "a.cxx": "cpp",
        "a.hpp": "cpp", "a.hh": "cpp", "a.rb": "ruby", "a.lua": "lua", "A.PY": "python",
    }
    assert {path: language_for(path).name for path in names} == names
    assert language_for("notes.txt") is None and language_for("Makefile") is None


def test_reference_kinds_and_signatures():
    _, references = definitions_and_references("py/shapes.py", FILES["py/shapes.py"])
    assert ("radius", "call", 8) in {(r.name, r.kind, r.line) for r in references}
    _, references = definitions_and_references("ts/service.ts", FILES["ts/service.ts"])
    assert ("Item", "type", 2) in {(r.name, r.kind, r.line) for r in references}
    # A C definition whose name sits below its return type: the signature runs through it.
    clamp = outline("c/util.c", FILES["c/util.c"])[1]
    assert clamp.signature == "static int clamp(int v)"
    point = outline("p.h", "typedef struct {\n    int x;\n    int y;\n} point;\n")
    assert [(s.kind, s.name, s.signature) for s in point] == [("type", "point", "typedef struct { … } point;")]


def test_render_outline():
    text = render_outline("py/shapes.py", FILES["py/shapes.py"])
    assert text == (
        "py/shapes.py (python)\n"
        "  4-8  class Shape:\n"
        "  7-8    def area(self):\n"
        "11-14  def radius(shape):"
    )
    assert render_outline("empty.py", b"x = 1\n") == "empty.py (python): no definitions found."
    message = render_outline("notes.txt", "hello")
    assert message.startswith("No outline for notes.txt: minion has no grammar for '.txt' files")
    assert ".rs" in message


# TODOs


@pytest.fixture
def polyglot(tmp_path) -> Path:
    return make_polyglot_repo(tmp_path / "poly glot")


def test_find_todos_across_languages(polyglot):
    todos = find_todos(polyglot)
    # Not the ones in string literals, in untracked or ignored files, or in a Markdown heading.
    assert [(t.path, t.line, t.text) for t in todos] == EXPECTED_TODOS
    java = next(t for t in todos if t.path == "java/Main.java")
    assert (java.start_line, java.end_line, java.column, java.pattern) == (4, 7, 8, "TODO(minion)")
    tsx = next(t for t in todos if t.path == "ts/view.tsx")
    assert tsx.pattern == "TODO: minion"


def test_find_todos_in_some_paths_and_with_other_patterns(polyglot):
    found = find_todos(polyglot, ["py", polyglot / "go" / "server.go"])
    assert [t.path for t in found] == ["go/server.go", "py/shapes.py"]
    assert find_todos(polyglot, ["nowhere"]) == []
    write_files(polyglot, {"py/shapes.py": FILES["py/shapes.py"] + "# FIXME(bot): later\n"})
    assert [t.text for t in find_todos(polyglot, ["py"], patterns=["FIXME(bot)"])] == ["later"]


def test_find_todos_reads_edits_not_yet_committed_but_no_links(polyglot, tmp_path):
    write_files(polyglot, {"js/app.js": "// TODO(minion): a fresh one\n"})
    assert [t.text for t in find_todos(polyglot, ["js"])] == ["a fresh one"]
    (tmp_path / "outside.py").write_text("# TODO(minion): outside the repo\n")
    (polyglot / "js" / "app.js").unlink()
    (polyglot / "js" / "app.js").symlink_to(tmp_path / "outside.py")
    assert find_todos(polyglot, ["js"]) == []


def test_todo_at_a_line():
    source = FILES["py/shapes.py"]
    for line in (11, 12):  # 0-based: both lines of the comment
        todo = todo_at("py/shapes.py", source, line)
        assert todo is not None and todo.line == 12 and todo.end_line == 13
    assert todo_at("py/shapes.py", source, 13) is None  # the string literal
    assert todo_at("py/shapes.py", source, 0) is None
    assert todo_at("notes.txt", "# TODO(minion): prose\n", 0) is None


def test_todo_text_cleanup():
    rust = "/* TODO(minion): one\n *   two */\n/// TODO: minion - doc comment\nfn f() {}\n"
    assert [t.text for t in _todos("lib.rs", rust)] == ["one\ntwo", "doc comment"]
    lua = "--[[ TODO(minion): block\n       more ]]\n"
    assert [t.text for t in _todos("a.lua", lua)] == ["block\nmore"]
    # A blank comment line ends the task; a code line ends a run of line comments.
    python = "# TODO(minion): first\n#\n# not part\nx = 1  # TODO(minion): trailing\n# below\n"
    assert [t.text for t in _todos("a.py", python)] == ["first", "trailing"]
    go = "// TODO(minion):\n// the task starts below\nfunc f() {}\n"
    assert [t.text for t in _todos("a.go", go)] == ["the task starts below"]
    sql = "-- TODO(minion): index this\nSELECT 1; -- TODO(minion): not at line start\n"
    assert [t.text for t in _todos("q.sql", sql)] == ["index this"]


def _todos(path, source):
    lines = source.count("\n")
    found = {todo_at(path, source, line) for line in range(lines)} - {None}
    return sorted(found, key=lambda t: t.line)


# repo map

MAP_FILES = {
    "billing/invoice.py": (
        "from billing.tax import tax_rate\n\n\n"
        "class Invoice:\n    def total(self):\n        return compute_invoice_total(self.lines)\n\n\n"
        "def compute_invoice_total(lines):\n    return sum(lines) * (1 + tax_rate())\n"
    ),
    "billing/tax.py": "def tax_rate():\n    return 0.2\n",
    "api/routes.py": (
        "from billing.invoice import Invoice, compute_invoice_total\n\n\n"
        "def get_invoice(request):\n    return compute_invoice_total(request.lines)\n"
    ),
    **{
        f"misc/unrelated_{i}.py": (
            f"def helper_{i}(x):\n    return x\n\n\nclass Widget{i}:\n"
            f"    def render(self):\n        return helper_{i}(self)\n"
        )
        for i in range(8)
    },
    "web/app.ts": "export function startApp(): void {}\n",
}


@pytest.fixture
def map_repo(tmp_path) -> Path:
    return make_repo(tmp_path / "map repo", MAP_FILES)


def _map_files(text: str) -> list[str]:
    return [block.split(":\n", 1)[0] for block in text.split("\n\n")]


def test_repo_map_ranks_the_file_defining_the_task_symbol_first(map_repo):
    text = build_repo_map(map_repo, focus_idents=["compute_invoice_total", "rounding"])
    files = _map_files(text)
    assert files[0] == "billing/invoice.py"
    # What the task's file uses ranks next, above files nothing uses.
    assert files[1] == "billing/tax.py"
    assert "def compute_invoice_total(lines):" in text
    # Methods sit under their class, with their line numbers.
    assert "billing/invoice.py:\n4 class Invoice:\n5   def total(self):\n9 def compute_invoice_total(" in text


def test_repo_map_focus_file_comes_first(map_repo):
    text = build_repo_map(map_repo, focus_files=[map_repo / "misc" / "unrelated_3.py"])
    assert _map_files(text)[0] == "misc/unrelated_3.py"
    assert build_repo_map(map_repo, focus_files=["misc/unrelated_3.py"]) == text


@pytest.mark.parametrize("budget", [0, 10, 13, 14, 40, 100, 300, 2048])
def test_repo_map_respects_the_budget(map_repo, budget):
    text = build_repo_map(map_repo, focus_idents=["compute_invoice_total"], budget_tokens=budget)
    assert len(text) / 4 <= budget
    best = "billing/invoice.py:\n9 def compute_invoice_total(lines):\n"
    assert (text == "") == (budget < len(best) / 4)
    if budget == 14:
        assert text == best  # the task's definition comes first


def test_repo_map_grows_with_the_budget(map_repo):
    small = build_repo_map(map_repo, budget_tokens=60)
    large = build_repo_map(map_repo, budget_tokens=4096)
    assert small and set(small.splitlines()) - {""} <= set(large.splitlines())
    assert "web/app.ts:" in large  # all languages share one map


def test_repo_map_cache_parses_only_changed_files(map_repo, tmp_path):
    cache_path = tmp_path / "cache" / "tags.sqlite"
    first = RepoMapCache(cache_path)
    text = build_repo_map(map_repo, cache=first)
    assert first.parsed == len(MAP_FILES)

    again = RepoMapCache(cache_path)  # a new process: only the file persists
    assert build_repo_map(map_repo, cache=again) == text
    assert again.parsed == 0

    # An edit not yet committed is seen (and parsed) too.
    write_files(map_repo, {"billing/tax.py": "def tax_rate():\n    return 0.2\n\n\ndef vat_rate():\n    return 0\n"})
    changed = build_repo_map(map_repo, cache=again, budget_tokens=4096)
    assert again.parsed == 1 and "def vat_rate():" in changed
    run_git(map_repo, "commit", "-qam", "vat")
    build_repo_map(map_repo, cache=again)
    assert again.parsed == 1  # committed: the same content, the same (git) blob id

    build_repo_map(map_repo, cache=cache_path)  # the caller may pass just the path
    assert RepoMapCache(cache_path).get_many([]) == {}


def test_repo_map_skips_generated_minified_binary_large_and_untracked_files(tmp_path):
    files = {
        "src/real.py": "def real_function():\n    pass\n",
        "src/gen.go": "// Code generated by protoc. DO NOT EDIT.\npackage x\nfunc Generated() {}\n",
        "src/gen2.py": "# @generated by a tool\ndef generated_too():\n    pass\n",
        "static/lib.min.js": "function minified(){}\n",
        "static/long.js": "function longLines(){}" + " " * 3000 + "\n",
        "src/binary.c": b"int binary_thing(void);\0\x01\x02",
        "src/big.py": "def too_big():\n    pass\n" + "# pad\n" * 2000,
    }
    repo = make_repo(tmp_path / "r", files)
    write_files(repo, {"src/untracked.py": "def untracked():\n    pass\n"})
    # A tracked file turned into a link to a file outside the repo is not followed.
    (tmp_path / "secret.py").write_text("def secret_key():\n    pass\n")
    (repo / "src" / "gen2.py").unlink()
    (repo / "src" / "gen2.py").symlink_to(tmp_path / "secret.py")
    text = build_repo_map(repo, max_file_bytes=10_000, budget_tokens=4096)
    assert text == "src/real.py:\n1 def real_function():\n"


def test_repo_map_parses_in_worker_processes_on_a_cold_start(polyglot, monkeypatch):
    serial = RepoMapCache()
    expected = build_repo_map(polyglot, cache=serial, budget_tokens=4096)
    monkeypatch.setattr(repomap, "_PARALLEL_MIN_FILES", 2)
    monkeypatch.setattr(repomap.os, "cpu_count", lambda: 3)
    parallel = RepoMapCache()
    assert build_repo_map(polyglot, cache=parallel, budget_tokens=4096) == expected
    assert parallel.parsed == serial.parsed == 12  # the files with a grammar


def test_repo_map_breaks_ties_by_path_then_line(tmp_path):
    repo = make_repo(tmp_path / "ties", {
        "a.py": "\n\n\ndef late_in_a():\n    pass\n\n\ndef later_in_a():\n    pass\n",
        "b.py": "def early_in_b():\n    pass\n\n\ndef next_in_b():\n    pass\n",
    })
    text = build_repo_map(repo, budget_tokens=4096)
    assert text == "a.py:\n4 def late_in_a():\n8 def later_in_a():\n\nb.py:\n1 def early_in_b():\n5 def next_in_b():\n"


def test_repo_map_is_deterministic(polyglot):
    texts = {build_repo_map(polyglot, focus_idents=["Point"], cache=RepoMapCache()) for _ in range(3)}
    assert len(texts) == 1
    assert "rust/lib.rs:" in texts.pop()


def test_repo_map_of_an_empty_repo(tmp_path):
    assert build_repo_map(make_repo(tmp_path / "empty", {}, commit=False)) == ""


# rule files


def _rules_repo(tmp_path) -> Path:
    return make_repo(tmp_path / "rules", {
        "AGENTS.md": "root agents",
        "CLAUDE.md": "root agents",  # the usual symlink-like copy: counted once
        "app/AGENTS.md": "app agents",
        "app/api/CLAUDE.md": "api claude",
        "app/api/handler.py": "",
        "other/AGENTS.md": "other agents",
        ".github/copilot-instructions.md": "copilot",
        ".cursor/rules/always.mdc": "---\ndescription: x\nalwaysApply: true\n---\nalways rule\n",
        ".cursor/rules/python.mdc": "---\nglobs: *.py, *.pyi\nalwaysApply: false\n---\npython rule\n",
        ".cursor/rules/web.mdc": '---\nglobs: ["web/**/*.ts"]\n---\nweb rule\n',
        ".cursor/rules/nested/api.mdc": "---\nglobs:\n  - app/api/**\n---\napi rule\n",
        ".cursor/rules/manual.mdc": "---\ndescription: only when asked\n---\nmanual rule\n",
    })


def test_rules_apply_by_folder_and_globs(tmp_path):
    repo = _rules_repo(tmp_path)
    rules = load_rules(repo, repo / "app" / "api" / "handler.py")
    assert [path for path, _ in rules.files] == [
        ".github/copilot-instructions.md",
        ".cursor/rules/always.mdc",
        ".cursor/rules/nested/api.mdc",
        ".cursor/rules/python.mdc",
        "AGENTS.md",
        "app/AGENTS.md",
        "app/api/CLAUDE.md",
    ]
    assert rules.warnings == []
    assert rules.render().startswith("## .github/copilot-instructions.md\n\ncopilot\n\n## ")
    assert "python rule" in rules.render() and "description" not in rules.render()

    web = load_rules(repo, "web/src/app.ts")
    assert [p for p, _ in web.files] == [
        ".github/copilot-instructions.md", ".cursor/rules/always.mdc", ".cursor/rules/web.mdc", "AGENTS.md",
    ]
    bare = load_rules(repo)
    assert [p for p, _ in bare.files] == [".github/copilot-instructions.md", ".cursor/rules/always.mdc", "AGENTS.md"]


def test_rules_are_capped_cutting_the_most_general_first(tmp_path):
    repo = make_repo(tmp_path / "big", {
        "AGENTS.md": "r" * 5000,
        "pkg/AGENTS.md": "p" * 700,
        ".github/copilot-instructions.md": "c" * 300,
    })
    rules = load_rules(repo, "pkg/mod.py", max_bytes=1000)
    assert [(p, len(t)) for p, t in rules.files][-1] == ("pkg/AGENTS.md", 700)
    assert rules.files[0][0] == "AGENTS.md" and rules.files[0][1].endswith("[… cut by minion]")
    assert len(rules.warnings) == 2
    assert "AGENTS.md cut from 5000 to 300 bytes" in rules.warnings[1]
    assert ".github/copilot-instructions.md" in rules.warnings[0]


def test_no_rules(repo):
    rules = load_rules(repo, "calc/ops.py")
    assert (rules.files, rules.warnings, rules.render()) == ([], [], "")


# anchors


def test_render_anchor_todo(polyglot):
    todo = find_todos(polyglot, ["py"])[0]
    anchor = Anchor("todo", todo.path, todo.start_line - 1, todo.end_line - 1, todo.text)
    text = render_anchor(polyglot, anchor, window=2)
    assert text == (
        "TODO comment at py/shapes.py:12-13:\n"
        "read the radius from the shape\ninstead of hard-coding it\n\n"
        "Inside function radius (lines 11-14): def radius(shape):\n\n"
        "py/shapes.py, lines 10-14:\n"
        " 10\n"
        " 11  def radius(shape):\n"
        "»12      # TODO(minion): read the radius from the shape\n"
        "»13      #   instead of hard-coding it\n"
        " 14      return \"TODO(minion): not a comment\""
    )


def test_render_anchor_diagnostic_and_selection(polyglot):
    diagnostic = Anchor(
        "diagnostic", "go/server.go", 14, 14, "undefined: fmt", source="gopls", code="UndeclaredName"
    )
    text = render_anchor(polyglot, diagnostic, window=1)
    assert text.startswith("Diagnostic (gopls UndeclaredName) at go/server.go:15:\nundefined: fmt\n\n")
    assert "Inside method Start (lines 13-17): func (s *Server) Start() error {" in text
    assert "»15  \tfmt.Println" in text

    selection = Anchor("selection", "rust/lib.rs", 9, 11, "fn norm(&self) -> f64 {")
    text = render_anchor(polyglot, selection, window=0)
    assert "Selected text:\n```\nfn norm(&self) -> f64 {\n```" in text
    assert "Inside impl Point > method norm (lines 10-12)" in text
    assert text.endswith(
        "rust/lib.rs, lines 10-12:\n»10      fn norm(&self) -> f64 {\n»11          self.x.abs()\n»12      }"
    )


def test_render_anchor_edge_cases(polyglot):
    assert render_anchor(polyglot, Anchor()) == ""
    gone = render_anchor(polyglot, Anchor("diagnostic", "gone.py", 0, 0, "boom"))
    assert gone == "Diagnostic at gone.py:1:\nboom\n(gone.py is not in the repository.)"
    long = Anchor("selection", "py/shapes.py", 0, 13, "x" * 5000)
    text = render_anchor(polyglot, long, window=3)
    assert "Selected text" not in text and "»14" in text
