"""Small but real projects in five toolchains, each a committed git repo in a folder.

Every project is the same little library: ``words`` splits text on single spaces (the bug
the task fixes: "the  cat sat" has three words, not four), ``count`` and ``longest`` use it,
and ``format_report`` sorts by name instead of by count: a test that already fails before
any run, unrelated to the task. Its scripted fix makes the count test pass; its bad fix
fixes the count but lowercases the words, so the test that ``longest`` keeps case, which
passed, fails.

The projects carry what such projects really have beside their code: a ``.venv`` (the
project's own, without pytest, or with pytest and ruff), a ``node_modules`` whose test tool
writes ``node_modules/.cache``, a committed ``Cargo.lock``. Nothing here imports pytest:
bench/check_caches.py builds the same projects.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


from minion.engine.create import RunRequest, create_run


from minion.engine.execute import execute_run
from minion.runs.model import RunRecord
from minion.runs.store import RunStore
from support.gitrepo import make_repo, run_git, write_files
from support.script import Block, replace, write_script
from support.venv import install_by_link, make_venv

# The task of every project's run. It names neither a check ("test", "lint", "ruff" …) nor
# the failure that was already there, so that failure does not count against the run.
TASK = "count words separated by any whitespace, not only by single spaces"

# Where rustup puts cargo; a shell that never sourced ~/.cargo/env does not have it on PATH.
CARGO_BIN = Path.home() / ".cargo" / "bin"


class MissingTool(RuntimeError):
    """A toolchain a project needs is not on this machine: a failure, never a skip."""


def require(tool: str) -> str:
    if found := shutil.which(tool):
        return found
    raise MissingTool(f"{tool} is not installed or not on PATH: `make toolchains` installs go, cargo and npm")


def path_with_cargo(path: str) -> str:
    """``path``, with ~/.cargo/bin after it when cargo is there and not on ``path``: the
    sandbox's PATH is minion's, so cargo must be on minion's."""
    if shutil.which("cargo", path=path) or not shutil.which("cargo", path=str(CARGO_BIN)):
        return path
    return f"{path}{os.pathsep}{CARGO_BIN}"


@dataclass(frozen=True)
class Project:
    family: str
    repo: Path
    files: list[str]  # everything committed, sorted: the run's branch must hold exactly these
    checks: list[str]  # the checks minion must choose, in order
    test_check: str  # the one that runs the tests
    fix: Block  # the scripted fix of TASK
    fixed: tuple[str, str]  # (path, text the fix puts there)
    bad_fix: Block  # fixes TASK but breaks `broken`
    preexisting: tuple[str, str]  # (test, its file): failing before any run, named as its runner does
    broken: tuple[str, str]  # (test, its file): passing before, the bad fix breaks it
    failed_test: re.Pattern[str]  # a line of the runner's output naming one failed test
    # How many tests passed, by the runner's own count; None: it gives none (go test does
    # not without -v, but it runs every test of the package, failing or not).
    passed_tests: Callable[[str], int | None]

    def failed_tests(self, output: str) -> set[str]:
        """The tests the runner's output says failed. Read here, not by minion's parsers:
        the tests prove what actually ran."""
        return set(self.failed_test.findall(output))


def _count(pattern: str) -> Callable[[str], int]:
    """The sum of the numbers ``pattern`` finds (cargo prints a result per test target)."""
    return lambda output: sum(int(n) for n in re.findall(pattern, output, re.MULTILINE))


def _unittest_passed(output: str) -> int:
    return _count(r"^Ran (\d+) tests?")(output) - _count(r"\b(?:failures|errors)=(\d+)")(output)


def _python_files(test_style: str) -> dict[str, str]:
    words = (
        '"""Splitting text into words, and what is counted from them."""\n\n\n'
        "def words(text):\n"
        '    return text.split(" ")\n\n\n'
        "def count(text):\n"
        "    return len(words(text))\n\n\n"
        "def longest(text):\n"
        '    return max(words(text), key=len, default="")\n'
    )
    report = (
        "def format_report(counts):\n"
        '    """\'word=n\' pairs, the most frequent first."""\n'
        '    return ", ".join(f"{word}={n}" for word, n in sorted(counts.items()))\n'
    )
    if test_style == "unittest":
        test_words = (
            "import unittest\n\nfrom wordcount.words import count, longest\n\n\n"
            "class WordsTest(unittest.TestCase):\n"
            "    def test_count_ignores_repeated_whitespace(self):\n"
            '        self.assertEqual(count("the  cat sat"), 3)\n\n'
            "    def test_longest_keeps_case(self):\n"
            '        self.assertEqual(longest("a Quick fox"), "Quick")\n'
        )
        test_report = (
            "import unittest\n\nfrom wordcount.report import format_report\n\n\n"
            "class ReportTest(unittest.TestCase):\n"
            "    def test_report_sorts_by_count(self):\n"
            '        self.assertEqual(format_report({"a": 1, "b": 3}), "b=3, a=1")\n'
        )
    else:
        test_words = (
            "from wordcount.words import count, longest\n\n\n"
            "def test_count_ignores_repeated_whitespace():\n"
            '    assert count("the  cat sat") == 3\n\n\n'
            "def test_longest_keeps_case():\n"
            '    assert longest("a Quick fox") == "Quick"\n'
        )
        test_report = (
            "from wordcount.report import format_report\n\n\n"
            "def test_report_sorts_by_count():\n"
            '    assert format_report({"a": 1, "b": 3}) == "b=3, a=1"\n'
        )
    return {"wordcount/__init__.py": "", "wordcount/words.py": words, "wordcount/report.py": report,
            "tests/test_words.py": test_words, "tests/test_report.py": test_report}


# The task's fix and tests, the same in both Python projects.
PYTHON_TASK = {
    "fix": replace("wordcount/words.py", 'return text.split(" ")', "return text.split()"),
    "fixed": ("wordcount/words.py", "return text.split()"),
    "bad_fix": replace("wordcount/words.py", 'return text.split(" ")', "return text.lower().split()"),
    "preexisting": ("test_report_sorts_by_count", "tests/test_report.py"),
    "broken": ("test_longest_keeps_case", "tests/test_words.py"),
}


def python_unittest(root: Path) -> Project:
    """A Python project that never installed pytest: its own .venv has none, so its tests
    run with unittest. It never ignored __pycache__ either: keeping the checks' bytecode
    out of the branch is minion's job."""
    files = {**_python_files("unittest"), ".gitignore": ".venv/\n"}
    repo = make_repo(root, files)
    make_venv(repo / ".venv")
    return Project(
        "python-unittest", repo, sorted(files), ["unittest"], "unittest",
        **PYTHON_TASK,
        failed_test=re.compile(r"^(?:FAIL|ERROR): (\w+) ", re.MULTILINE), passed_tests=_unittest_passed,
    )


def python_pytest_ruff(root: Path) -> Project:
    """A Python project with pytest and ruff in its .venv, and ``fix = true`` in its ruff
    config: what a developer's `ruff check` does, a check must not (it reports)."""
    pyproject = (
        '[project]\nname = "wordcount"\nversion = "0.1.0"\nrequires-python = ">=3.9"\n\n'
        "[tool.ruff]\nfix = true\nline-length = 100\n\n"
        '[tool.pytest.ini_options]\ntestpaths = ["tests"]\n'
    )
    files = {**_python_files("pytest"), "pyproject.toml": pyproject, ".gitignore": "__pycache__/\n.venv/\n"}
    ruff = Path(sysconfig.get_paths()["scripts"]) / "ruff"
    if not ruff.is_file():
        raise MissingTool(f"ruff is not installed for {sys.executable}: it is in the test extras of pyproject.toml")
    repo = make_repo(root, files)
    install_by_link(make_venv(repo / ".venv"), "pytest")
    (repo / ".venv" / "bin" / "ruff").symlink_to(ruff)
    return Project(
        "python-pytest-ruff", repo, sorted(files), ["ruff", "pytest"], "pytest",
        **PYTHON_TASK,
        failed_test=re.compile(r"^FAILED \S+::(\w+)", re.MULTILINE), passed_tests=_count(r"\b(\d+) passed"),
    )


# A test runner as npm installs one: it keeps a cache of its last run in
# node_modules/.cache/<tool>/, where babel-loader, nyc and ava keep theirs (find-cache-dir),
# then runs the tests with node's own runner. It cannot run without its cache.
QUICKTEST = """\
#!/usr/bin/env node
"use strict";
const fs = require("node:fs");
const path = require("node:path");
const { spawnSync } = require("node:child_process");

const cache = path.join(process.cwd(), "node_modules", ".cache", "quicktest");
fs.mkdirSync(cache, { recursive: true });
fs.writeFileSync(path.join(cache, "last-run.json"), JSON.stringify({ started: Date.now() }) + "\\n");
const run = spawnSync(process.execPath, ["--test", ...process.argv.slice(2)], { stdio: "inherit" });
process.exit(run.status === null ? 1 : run.status);
"""


def node(root: Path) -> Project:
    require("node")
    require("npm")
    files = {
        "package.json": (
            '{\n  "name": "wordcount",\n  "version": "1.0.0",\n  "private": true,\n'
            '  "scripts": {\n    "test": "quicktest"\n  },\n'
            '  "devDependencies": {\n    "quicktest": "1.0.0"\n  }\n}\n'
        ),
        "src/words.js": (
            '"use strict";\n\n'
            "function words(text) {\n"
            '  return text.split(" ");\n'
            "}\n\n"
            "function count(text) {\n  return words(text).length;\n}\n\n"
            "function longest(text) {\n"
            '  return words(text).reduce((best, word) => (word.length > best.length ? word : best), "");\n'
            "}\n\n"
            "module.exports = { words, count, longest };\n"
        ),
        "src/report.js": (
            '"use strict";\n\n'
            "// \"word=n\" pairs, the most frequent first.\n"
            "function formatReport(counts) {\n"
            "  return Object.keys(counts).sort().map((word) => `${word}=${counts[word]}`).join(\", \");\n"
            "}\n\n"
            "module.exports = { formatReport };\n"
        ),
        "test/words.test.js": (
            'const test = require("node:test");\nconst assert = require("node:assert/strict");\n'
            'const { count, longest } = require("../src/words");\n\n'
            'test("count ignores repeated whitespace", () => {\n  assert.equal(count("the  cat sat"), 3);\n});\n\n'
            'test("longest keeps case", () => {\n  assert.equal(longest("a Quick fox"), "Quick");\n});\n'
        ),
        "test/report.test.js": (
            'const test = require("node:test");\nconst assert = require("node:assert/strict");\n'
            'const { formatReport } = require("../src/report");\n\n'
            'test("report sorts by count", () => {\n'
            '  assert.equal(formatReport({ a: 1, b: 3 }), "b=3, a=1");\n});\n'
        ),
        ".gitignore": "node_modules/\n",
    }
    repo = make_repo(root, files)
    write_files(repo, {  # what `npm install` leaves
        "node_modules/quicktest/package.json": '{"name": "quicktest", "version": "1.0.0", "bin": "bin/quicktest.js"}\n',
        "node_modules/quicktest/bin/quicktest.js": QUICKTEST,
    })
    (repo / "node_modules/quicktest/bin/quicktest.js").chmod(0o755)
    (repo / "node_modules/.bin").mkdir()
    (repo / "node_modules/.bin/quicktest").symlink_to("../quicktest/bin/quicktest.js")
    return Project(
        "node", repo, sorted(files), ["npm test"], "npm test",
        fix=replace("src/words.js", 'return text.split(" ");', "return text.split(/\\s+/).filter(Boolean);"),
        fixed=("src/words.js", "return text.split(/\\s+/).filter(Boolean);"),
        bad_fix=replace("src/words.js", 'return text.split(" ");',
                        "return text.toLowerCase().split(/\\s+/).filter(Boolean);"),
        preexisting=("report sorts by count", "test/report.test.js"), broken=("longest keeps case", "test/words.test.js"),
        failed_test=re.compile(r"^not ok \d+ - (.+)$", re.MULTILINE), passed_tests=_count(r"^# pass (\d+)"),
    )


def go(root: Path) -> Project:
    require("go")
    files = {
        "go.mod": "module example.com/wordcount\n\ngo 1.19\n",
        "words.go": (
            "// Package wordcount splits text into words and counts them.\n"
            "package wordcount\n\nimport \"strings\"\n\n"
            "func words(text string) []string {\n\treturn strings.Split(text, \" \")\n}\n\n"
            "// Count is the number of words in text.\n"
            "func Count(text string) int {\n\treturn len(words(text))\n}\n\n"
            "// Longest is the longest word of text, the first one on a tie.\n"
            "func Longest(text string) string {\n\tlongest := \"\"\n\tfor _, w := range words(text) {\n"
            "\t\tif len(w) > len(longest) {\n\t\t\tlongest = w\n\t\t}\n\t}\n\treturn longest\n}\n"
        ),
        "words_test.go": (
            "package wordcount\n\nimport \"testing\"\n\n"
            "func TestCountIgnoresRepeatedWhitespace(t *testing.T) {\n"
            "\tif got := Count(\"the  cat sat\"); got != 3 {\n\t\tt.Errorf(\"Count = %d, want 3\", got)\n\t}\n}\n\n"
            "func TestLongestKeepsCase(t *testing.T) {\n"
            "\tif got := Longest(\"a Quick fox\"); got != \"Quick\" {\n\t\tt.Errorf(\"Longest = %q, want \\\"Quick\\\"\", got)\n"
            "\t}\n}\n"
        ),
        "report.go": (
            "package wordcount\n\nimport (\n\t\"fmt\"\n\t\"sort\"\n\t\"strings\"\n)\n\n"
            "// FormatReport lists \"word=n\" pairs, the most frequent first.\n"
            "func FormatReport(counts map[string]int) string {\n"
            "\tnames := make([]string, 0, len(counts))\n\tfor name := range counts {\n\t\tnames = append(names, name)\n\t}\n"
            "\tsort.Strings(names)\n\tparts := make([]string, len(names))\n\tfor i, name := range names {\n"
            "\t\tparts[i] = fmt.Sprintf(\"%s=%d\", name, counts[name])\n\t}\n\treturn strings.Join(parts, \", \")\n}\n"
        ),
        "report_test.go": (
            "package wordcount\n\nimport \"testing\"\n\n"
            "func TestReportSortsByCount(t *testing.T) {\n"
            "\tif got := FormatReport(map[string]int{\"a\": 1, \"b\": 3}); got != \"b=3, a=1\" {\n"
            "\t\tt.Errorf(\"FormatReport = %q, want \\\"b=3, a=1\\\"\", got)\n\t}\n}\n"
        ),
    }
    repo = make_repo(root, files)
    return Project(
        "go", repo, sorted(files), ["go vet", "go test"], "go test",
        fix=replace("words.go", 'return strings.Split(text, " ")', "return strings.Fields(text)"),
        fixed=("words.go", "return strings.Fields(text)"),
        bad_fix=replace("words.go", 'return strings.Split(text, " ")', "return strings.Fields(strings.ToLower(text))"),
        preexisting=("TestReportSortsByCount", "report_test.go"), broken=("TestLongestKeepsCase", "words_test.go"),
        failed_test=re.compile(r"^\s*--- FAIL: (\w+)", re.MULTILINE), passed_tests=lambda output: None,
    )


def rust(root: Path) -> Project:
    cargo = require("cargo")
    files = {
        "Cargo.toml": '[package]\nname = "wordcount"\nversion = "0.1.0"\nedition = "2021"\n\n[dependencies]\n',
        "src/lib.rs": (
            "//! Splitting text into words, and what is counted from them.\n\n"
            "mod report;\n\npub use report::format_report;\n\n"
            "fn words(text: &str) -> Vec<String> {\n    text.split(' ').map(String::from).collect()\n}\n\n"
            "/// The number of words in `text`.\n"
            "pub fn count(text: &str) -> usize {\n    words(text).len()\n}\n\n"
            "/// The longest word of `text`, the first one on a tie.\n"
            "pub fn longest(text: &str) -> String {\n    let mut longest = String::new();\n"
            "    for word in words(text) {\n        if word.len() > longest.len() {\n            longest = word;\n"
            "        }\n    }\n    longest\n}\n\n"
            "#[cfg(test)]\nmod tests {\n    use super::*;\n\n"
            "    #[test]\n    fn count_ignores_repeated_whitespace() {\n        assert_eq!(count(\"the  cat sat\"), 3);\n    }\n\n"
            "    #[test]\n    fn longest_keeps_case() {\n        assert_eq!(longest(\"a Quick fox\"), \"Quick\");\n    }\n}\n"
        ),
        "src/report.rs": (
            "/// \"word=n\" pairs, the most frequent first.\n"
            "pub fn format_report(counts: &[(&str, usize)]) -> String {\n"
            "    let mut sorted = counts.to_vec();\n    sorted.sort();\n"
            "    sorted.iter().map(|(word, n)| format!(\"{word}={n}\")).collect::<Vec<_>>().join(\", \")\n}\n\n"
            "#[cfg(test)]\nmod tests {\n    use super::*;\n\n"
            "    #[test]\n    fn report_sorts_by_count() {\n"
            "        assert_eq!(format_report(&[(\"a\", 1), (\"b\", 3)]), \"b=3, a=1\");\n    }\n}\n"
        ),
        ".gitignore": "/target\n",  # as `cargo new` writes it
    }
    repo = make_repo(root, files, commit=False)
    # Cargo.lock is committed, as `cargo new` projects do now: cargo writes it, offline.
    subprocess.run([cargo, "generate-lockfile", "--offline", "--quiet"], cwd=repo, check=True)
    run_git(repo, "add", "-A")
    run_git(repo, "commit", "-q", "-m", "initial")
    return Project(
        "rust", repo, sorted([*files, "Cargo.lock"]), ["cargo test"], "cargo test",
        fix=replace("src/lib.rs", "text.split(' ').map", "text.split_whitespace().map"),
        fixed=("src/lib.rs", "text.split_whitespace().map(String::from).collect()"),
        bad_fix=replace("src/lib.rs", "text.split(' ').map", "text.to_lowercase().split_whitespace().map"),
        preexisting=("report::tests::report_sorts_by_count", "src/report.rs"),
        broken=("tests::longest_keeps_case", "src/lib.rs"),
        failed_test=re.compile(r"^---- (\S+) stdout ----$", re.MULTILINE), passed_tests=_count(r"^test result: .*?(\d+) passed"),
    )


BUILDERS = {"python-unittest": python_unittest, "python-pytest-ruff": python_pytest_ruff, "node": node,
            "go": go, "rust": rust}


def branch_files(repo: Path, branch: str) -> list[str]:
    return sorted(run_git(repo, "ls-tree", "-r", "--name-only", branch).splitlines())


async def run_minion(repo: Path, folder: Path, turns: list[list[Block]], task: str = TASK) -> tuple[RunRecord, list[str]]:
    """A whole run with the checks minion chooses: the final record and its nodes' names."""
    store = RunStore()
    model = write_script(folder, turns, f"script-{uuid.uuid4().hex[:6]}.json")
    record = create_run(RunRequest(task=task, repo=repo, model=model), store)
    final = await execute_run(record.id, store)
    return final, [n.name for n in store.nodes(final.id)]


def check_named(record: RunRecord, name: str) -> dict:
    found = [c for c in record.checks if c.name == name]
    assert found, f"no {name} check ran: {[c['name'] for c in record.checks]}"
    return found[0]
