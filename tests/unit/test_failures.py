"""Check summaries and diagnostics come from the real error, not the output's last line.

The outputs in failure_outputs/ were printed by the real tools (README.md there says which and
how); the live tests at the end run pytest and unittest here, so a change of their format shows."""

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minion.blueprint.failures import Failure, parse_failures, summary_line
from minion.lsp.results import _check_locations, _place_checks, _unplaced_checks
from minion.runs.model import CheckResult, RunRecord, Status

OUTPUTS = Path(__file__).parent / "failure_outputs"
REPO = "/repo"


def recorded(name: str) -> str:
    return (OUTPUTS / f"{name}.txt").read_text()


# (recorded output, its first failure: path, line, message)
FIRST = [
    ("pytest", "tests/test_calc.py", 5, "test_add: AssertionError: assert 0 == 2"),
    ("pytest_many", "tests/test_calc.py", 5, "test_add: AssertionError: assert 0 == 2"),
    ("pytest_collect", "tests/test_imports.py", 1, "ModuleNotFoundError: No module named 'pkg'"),
    ("unittest", "pkg/calc.py", 14, "CalcTest.test_lookup: KeyError: 'b'"),
    ("python_traceback", "check.py", 5, ("json.decoder.JSONDecodeError: Expecting property name enclosed in double "
                                         "quotes: line 1 column 2 (char 1)")),
    ("ruff", "pkg/calc.py", 1, "F401 `os` imported but unused"),
    ("ruff_concise", "pkg/calc.py", 1, "F401 `os` imported but unused"),
    ("ruff_syntax", "broken.py", 1, "invalid-syntax: Expected a parameter or the end of the parameter list"),
    ("flake8", "pkg/calc.py", 1, "F401 'os' imported but unused"),
    ("mypy", "pkg/calc.py", 9, 'Incompatible return value type (got "int", expected "str") [return-value]'),
    ("tsc", "src/a.ts", 5, "TS2322: Type 'string' is not assignable to type 'number'."),
    ("tsc_pretty", "src/a.ts", 5, "TS2322: Type 'string' is not assignable to type 'number'."),
    ("eslint", "lib/math.js", 1, "'b' is defined but never used (no-unused-vars)"),
    ("xo", "index.js", 1, "b is defined but never used. Allowed unused args must match /^_/u. (no-unused-vars)"),
    ("ava", "test/math.test.js", 5, "adds numbers: Difference (- actual, + expected): - 0; + 4"),
    ("jest", "src/math.test.js", 5, ("math › adds numbers: expect(received).toBe(expected) // Object.is equality; "
                                     "Expected: 4; Received: 0")),
    ("jest_console", "src/math.test.js", 6, ("math › adds numbers: expect(received).toBe(expected) // Object.is "
                                             "equality; Expected: 4; Received: 0")),  # after a `● Console` block
    ("jest_suite", "src/broken.test.js", 1, ("Test suite failed to run: Cannot find module './nope' from "
                                             "'src/broken.test.js'")),
    ("node_test", "test/report.test.js", 6, ("report sorts by count: Expected values to be strictly equal: + actual - "
                                             "expected; + 'a=1, b=3'; - 'b=3, a=1'")),
    ("node_test_spec", "test/report.test.js", 6, ("report sorts by count: AssertionError [ERR_ASSERTION]: Expected "
                                                  "values to be strictly equal: + actual - expected; + 'a=1, b=3'; "
                                                  "- 'b=3, a=1'")),
    ("go_build", "util.go", 12, "undefined: bytes"),
    ("go_vet", "util.go", 12, "undeclared name: bytes"),
    ("go_test", "util_test.go", 7, 'TestJoin: Join = "a b", want "a-b"'),
    ("cargo_build", "src/lib.rs", 7, "E0425: cannot find value `factor` in this scope"),
    ("cargo_test", "src/lib.rs", 15, "tests::adds: assertion `left == right` failed; left: 0; right: 4"),
]


@pytest.mark.parametrize("name, path, line, message", FIRST, ids=[row[0] for row in FIRST])
def test_the_first_failure_of_each_recorded_output(name, path, line, message):
    output = recorded(name)
    first = parse_failures(output, REPO)[0]
    assert (first.path, first.line, first.message) == (path, line, message)
    expected = f"{path}:{line}: {message}"
    assert summary_line(output, REPO, 1) == (expected if len(expected) <= 160 else expected[:159] + "…")


def test_the_summary_no_longer_hides_the_error():
    """The issue's cases: `exit 2: FAIL` (go) and `exit 1:   1 error` (xo)."""
    assert recorded("go_build").strip().splitlines()[-1] == "FAIL"
    assert summary_line(recorded("go_build"), REPO, 2) == "util.go:12: undefined: bytes"
    assert recorded("xo").strip().splitlines()[-1].strip() == "3 errors"
    assert summary_line(recorded("xo"), REPO, 1).startswith("index.js:1: b is defined but never used.")


def described(name: str) -> list[str]:
    return [f.describe() for f in parse_failures(recorded(name), REPO)]


def test_every_failure_in_order_and_nothing_else():
    assert described("pytest_many") == [
        "tests/test_calc.py:5: test_add: AssertionError: assert 0 == 2",
        "tests/test_unit.py:8: CalcTest.test_add: AssertionError: -1 != 5",
        "pkg/calc.py:14: CalcTest.test_lookup: KeyError: 'b'",  # the deepest frame of the repo's own code
    ]
    assert described("pytest_collect") == [
        "tests/test_imports.py:1: ModuleNotFoundError: No module named 'pkg'",
        "tests/test_syntax.py:2: SyntaxError: '(' was never closed",  # the file pytest failed to parse
    ]
    assert described("unittest") == [
        "pkg/calc.py:14: CalcTest.test_lookup: KeyError: 'b'",
        "tests/test_unit.py:8: CalcTest.test_add: AssertionError: -1 != 5",
    ]
    assert described("ruff_syntax") == [
        "broken.py:1: invalid-syntax: Expected a parameter or the end of the parameter list",
        "broken.py:1: invalid-syntax: Expected `)`, found newline",
        "names.py:1: F401 `sys` imported but unused",
        "names.py:5: F821 Undefined name `undefined_name`",
    ]
    assert described("cargo_test") == [
        "src/lib.rs:15: tests::adds: assertion `left == right` failed; left: 0; right: 4",
        "src/lib.rs:6: tests::parses: called `Result::unwrap()` on an `Err` value: ParseIntError { kind: "
        "InvalidDigit }",
    ]
    assert described("ava")[1] == ("test/math.test.js:13: throws nothing: SyntaxError: Expected property name or '}' "
                                   "in JSON at position 1")  # thrown: the error above its stack, the test's frame
    assert described("jest")[1] == ("src/math.js:6: math › parses: SyntaxError: Expected property name or '}' in "
                                    "JSON at position 1")  # the first frame outside node_modules
    # node --test: the failed test inside a suite, not the suite; the spec reporter's closing list adds nothing
    assert described("node_test")[1:] == ["test/report.test.js:11: adds: one plus one is three"]
    assert described("node_test_spec")[1:] == [
        "test/report.test.js:11: adds: AssertionError [ERR_ASSERTION]: one plus one is three"]
    assert len(described("xo")) == 3 and len(described("tsc")) == 1 and len(described("mypy")) == 1


def test_a_go_test_line_is_placed_in_its_package_folder():
    """`sub_test.go:7` is printed relative to the package; the package line comes after it."""
    assert described("go_test") == ['util_test.go:7: TestJoin: Join = "a b", want "a-b"',
                                    "sub/sub_test.go:7: TestPanics: panic: assignment to entry in nil map"]
    output = "\n".join(["--- FAIL: TestParse (0.00s)", "    parse_test.go:9: got 1, want 2", "FAIL",
                        "FAIL\texample.com/m/internal/parse\t0.004s", "ok  \texample.com/m/cmd/tool\t0.002s",
                        "?   \texample.com/m\t[no test files]", "FAIL"])
    assert described_text(output) == ["internal/parse/parse_test.go:9: TestParse: got 1, want 2"]


def test_go_test_verbose_and_subtests():
    """-v prints a test's log lines before its `--- FAIL`; a parent of failed subtests is no failure."""
    assert described("go_test_verbose") == ['split_test.go:11: TestSplit/empty: got [""], want none',
                                            'util_test.go:7: TestJoin: Join = "a b", want "a-b"',
                                            "sub/sub_test.go:7: TestPanics: panic: assignment to entry in nil map"]


def described_text(output: str, repo: str = REPO) -> list[str]:
    return [f.describe() for f in parse_failures(output, repo)]


def test_eslint_errors_come_before_the_warnings_printed_above_them():
    assert described("eslint")[0] == "lib/math.js:1: 'b' is defined but never used (no-unused-vars)"
    assert "Unexpected console statement" not in " ".join(described("eslint"))
    only_warnings = "\n/repo/lib/log.js\n  2:3  warning  Unexpected console statement  no-console\n\n✖ 1 problem\n"
    assert described_text(only_warnings) == ["lib/log.js:2: Unexpected console statement (no-console)"]


def test_cargo_warnings_are_not_the_error():
    messages = described("cargo_build")
    assert messages == ["src/lib.rs:7: E0425: cannot find value `factor` in this scope"]  # not the unused variable


def test_a_warning_at_the_top_of_pytest_output_is_not_the_failure():
    """pytest.txt starts with `/repo/.venv/.../plugin.py:306: PytestDeprecationWarning: ...`."""
    assert recorded("pytest").startswith("/repo/.venv/")
    assert all(not f.path or not f.path.startswith(".venv") for f in parse_failures(recorded("pytest"), REPO))


def test_older_formats():
    rust_before_1_73 = "thread 'main' panicked at 'index out of bounds: the len is 3', src/main.rs:4:5\n"
    assert described_text(rust_before_1_73) == ["src/main.rs:4: main: index out of bounds: the len is 3"]
    python_before_3_11 = "\n".join(["=" * 70, "FAIL: test_add (test_calc.CalcTest)", "-" * 70,
                                    "Traceback (most recent call last):",
                                    '  File "/repo/test_calc.py", line 6, in test_add',
                                    "    self.assertEqual(1, 2)", "AssertionError: 1 != 2", "", "-" * 70, "Ran 1 test"])
    assert described_text(python_before_3_11) == ["test_calc.py:6: CalcTest.test_add: AssertionError: 1 != 2"]
    xo = ("\n  lib/a.js:3:1\n  ⚠  3:1  Unexpected todo comment.  no-warning-comments\n"
          "  ✖  4:7  x is not defined.  no-undef\n")
    assert described_text(xo) == ["lib/a.js:4: x is not defined. (no-undef)"]


def test_paths_outside_the_repo_give_no_path():
    output = "/usr/lib/go/src/fmt/print.go:12:3: undefined: x\n./pkg/../../etc/x.go:1:1: nope\n"
    assert [(f.path, f.line) for f in parse_failures(output, REPO)] == [(None, 12), (None, 1)]
    assert summary_line(output, REPO, 1) == "undefined: x"


def test_a_repo_path_with_spaces_and_its_absolute_paths():
    repo = "/home/u/user repo ü"
    output = f'  File "{repo}/calc/ops.py", line 2, in add\nTraceback (most recent call last):\n' \
             f'  File "{repo}/calc/ops.py", line 3, in add\n    return a + x\nNameError: name \'x\' is not defined\n'
    assert described_text(output, repo + "/") == ["calc/ops.py:3: NameError: name 'x' is not defined"]


def test_unknown_output_falls_back_to_its_last_line():
    assert parse_failures("Segmentation fault\nmake: *** [test] Error 139\n\n", REPO) == []
    assert summary_line("Segmentation fault\nmake: *** [test] Error 139\n\n", REPO, 2) == "make: *** [test] Error 139"
    assert summary_line("", REPO, 137) == "no output (exit 137)"
    assert summary_line("x" * 500, REPO, 1) == "x" * 159 + "…"


def test_limit_and_the_record_form():
    output = "".join(f"a.py:{n}:1: F821 undefined name 'x{n}'\n" for n in range(1, 40))
    assert len(parse_failures(output, REPO)) == 20 and len(parse_failures(output, REPO, limit=3)) == 3
    failure = parse_failures(output, REPO)[0]
    assert failure.to_dict() == {"path": "a.py", "line": 1, "message": "F821 undefined name 'x1'"}
    assert Failure(None, None, "boom").describe() == "boom"
    assert Failure("a.py", None, "boom").describe() == "a.py: boom"


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["--- FAIL: TestX", "    x_test.go:1: m", "FAIL\tp\t1s", "  ● t", "  ✘ [fail]: t",
                                 "E   assert x", "=== FAILURES ===", "___ t ___", " --> a.rs:1:1", "error: x",
                                 "Traceback (most recent call last):", '  File "/repo/a.py", line 1', "a.py:1:2: x",
                                 "  1:2  error  m  r", "ok  \t/abs\t1s", "  ", ""]) | st.text(),
                max_size=12).map("\n".join))
def test_any_output_parses_without_raising(output):
    failures = parse_failures(output, REPO)
    assert all(f.message and "\n" not in f.message and (f.line is None or f.line >= 0) for f in failures)
    assert "\n" not in summary_line(output, REPO, 1)


# --- the editor: failed-check diagnostics sit at the failures ---------------------------

def record_with(checks: list[dict]) -> RunRecord:
    results = [CheckResult(**{"command": "c", "duration_s": 1.0, **check}) for check in checks]
    return RunRecord("r1", 0, 0, Status.FAILED_CHECKS, REPO, "task", "default", "m", checks=results)


def test_diagnostics_sit_at_the_real_error_with_its_message():
    checks = [{"name": "go test", "ok": False, "exit_code": 2, "output": recorded("go_build")},
              {"name": "lint", "ok": True, "exit_code": 0, "output": "x.py:1:1: F401"}]
    assert _check_locations(record_with(checks)) == [("util.go", 12, "go test", "undefined: bytes", False)]


def test_a_failure_that_was_there_before_the_run_is_information_not_an_error():
    checks = [{"name": "go test", "ok": False, "exit_code": 2, "output": recorded("go_build"), "preexisting": True}]
    (spot,) = _place_checks(_check_locations(record_with(checks)), {"util.go": "x\n" * 20})
    assert spot.severity == "information" and spot.message.startswith("check 'go test' already failing before this run")
    assert _unplaced_checks(record_with(checks), [])[0].startswith("check 'go test' already failing before minion run")


def test_stored_failures_are_preferred_to_the_output():
    stored = [{"path": "calc.py", "line": 3, "message": "stored"}]
    checks = [{"name": "tests", "ok": False, "exit_code": 1, "output": recorded("pytest"), "failures": stored}]
    assert _check_locations(record_with(checks)) == [("calc.py", 3, "tests", "stored", False)]
    assert _unplaced_checks(record_with(checks), []) == ["check 'tests' failed in minion run r1: calc.py:3: stored"]


def test_a_check_that_names_no_line_says_its_first_failure_else_its_last_line():
    checks = [{"name": "tests", "ok": False, "exit_code": 1, "output": recorded("pytest")},
              {"name": "make", "ok": False, "exit_code": 2, "output": "make: *** [all] Error 2\n"}]
    assert _unplaced_checks(record_with(checks), []) == [
        "check 'tests' failed in minion run r1: tests/test_calc.py:5: test_add: AssertionError: assert 0 == 2",
        "check 'make' failed in minion run r1: make: *** [all] Error 2"]


# --- live: today's pytest and unittest ---------------------------------------------------

def run(repo: Path, *args: str) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, *args], check=False, cwd=repo, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0, result.stdout + result.stderr
    return result


@pytest.fixture
def example(tmp_path) -> Path:
    repo = tmp_path / "user repo ü"
    (repo / "tests").mkdir(parents=True)
    (repo / "pytest.ini").write_text("[pytest]\n")
    (repo / "calc.py").write_text("def add(a, b):\n    return a - b\n\n\ndef lookup(key):\n    return {}[key]\n")
    (repo / "tests" / "__init__.py").write_text("")
    return repo


def test_live_pytest(example):
    (example / "tests" / "test_calc.py").write_text(
        "from calc import add, lookup\n\n\ndef test_add():\n    assert add(1, 1) == 2\n\n\n"
        "def test_lookup():\n    assert lookup('k')\n")
    result = run(example, "-m", "pytest", "-q", "-p", "no:cacheprovider")
    assert described_text(result.stdout + result.stderr, str(example)) == [
        "tests/test_calc.py:5: test_add: AssertionError: assert 0 == 2", "calc.py:6: test_lookup: KeyError: 'k'"]


def test_live_pytest_setup_error_and_captured_output(example):
    (example / "tests" / "test_calc.py").write_text(
        "def test_needs(db):\n    pass\n\n\ndef test_prints():\n    print('calc.py:1: not a failure')\n"
        "    assert 1 == 2, 'numbers differ'\n")
    result = run(example, "-m", "pytest", "-q", "-p", "no:cacheprovider")
    assert described_text(result.stdout + result.stderr, str(example)) == [
        "tests/test_calc.py:1: ERROR at setup of test_needs: fixture 'db' not found",
        "tests/test_calc.py:7: test_prints: AssertionError: numbers differ"]


def test_live_pytest_collection_error(example):
    (example / "tests" / "test_calc.py").write_text("def test_add(:\n    pass\n")
    result = run(example, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider")
    first = parse_failures(result.stdout + result.stderr, str(example))[0]
    assert (first.path, first.line) == ("tests/test_calc.py", 1) and first.message.startswith("SyntaxError: ")


def test_live_unittest(example):
    (example / "tests" / "test_calc.py").write_text(
        "import unittest\n\nfrom calc import add, lookup\n\n\nclass CalcTest(unittest.TestCase):\n"
        "    def test_add(self):\n        self.assertEqual(add(2, 3), 5)\n\n"
        "    def test_lookup(self):\n        lookup('k')\n")
    result = run(example, "-m", "unittest", "discover", "-s", ".", "-q")
    assert described_text(result.stdout + result.stderr, str(example)) == [  # unittest prints errors first
        "calc.py:6: CalcTest.test_lookup: KeyError: 'k'",
        "tests/test_calc.py:8: CalcTest.test_add: AssertionError: -1 != 5"]
