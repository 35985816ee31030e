"""The real errors in a check's output, as `path:line: message`.

A failed check's last line is mostly a count (`FAIL`, `3 errors`) that hides the error. This
reads the first failures the usual tools name: pytest, unittest and Python tracebacks, ruff,
flake8, mypy, tsc, eslint and xo, ava, jest, node --test, go build/vet/test, cargo build and
test. Each family has a reader below; a reader that understands a stretch of output claims
its lines, and the one-line formats (`x.py:3:8: F401 ...`) are read from the lines no reader
claimed.
Unknown output gives no failure (the summary falls back to the last line); nothing raises.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import asdict, dataclass
from itertools import takewhile
from pathlib import PurePosixPath

MAX_MESSAGE = 300
MAX_SUMMARY = 160


@dataclass(frozen=True)
class Failure:
    path: str | None  # repo-relative posix path when the output names a file of the repo, else None
    line: int | None  # 1-based
    message: str  # one line, the real error

    def to_dict(self) -> dict:
        return asdict(self)

    def describe(self) -> str:
        """`util.go:47: undefined: bytes`, or just the message when it names no place."""
        if self.path is None:
            return self.message
        return f"{self.path}:{self.line}: {self.message}" if self.line else f"{self.path}: {self.message}"


def parse_failures(output: str, repo: str, limit: int = 20) -> list[Failure]:
    """The first failures named in a check's output, in the order the output names them.

    ``repo`` is the repo's absolute path as the tool saw it: absolute paths under it become
    repo-relative, `./x` becomes `x`, and paths outside it give ``path=None``."""
    out = _Output(output, repo, limit)
    found: list[tuple[int, Failure]] = []
    for reader in _READERS:
        found += reader(out)
    unique = dict.fromkeys(failure for _, failure in sorted(found, key=lambda item: item[0]))
    return list(unique)[:limit]


def summary_line(output: str, repo: str, exit_code: int) -> str:
    """One line for a failed check: its first failure, else the last line it printed."""
    first = parse_failures(output, repo, limit=1)
    if first:
        text = first[0].describe()
    else:
        lines = [line.strip() for line in _lines(output) if line.strip()]
        text = lines[-1] if lines else f"no output (exit {exit_code})"
    return _clip(text, MAX_SUMMARY)


_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
# Folders of other people's code: a stack frame there is not where the repo's error is.
_VENDORED = re.compile(r"(^|/)(node_modules|site-packages|dist-packages|\.venv|venv|\.tox)/")


def _lines(output: str) -> list[str]:
    return _ANSI.sub("", output).splitlines()


class _Output:
    """The output's lines, colours stripped; its paths read against the repo; the lines a
    reader has claimed."""

    def __init__(self, output: str, repo: str, limit: int) -> None:
        self.lines = _lines(output)
        self.repo = repo.rstrip("/")
        self.limit = limit  # a reader need not read more failures than this
        self.claimed: set[int] = set()

    def path(self, raw: str) -> str | None:
        raw = raw.removeprefix("file://")
        if raw.startswith("/"):
            if not raw.startswith(self.repo + "/"):
                return None
            raw = raw[len(self.repo) + 1 :]
        parts = PurePosixPath(raw).parts
        if not parts or ":" in raw or raw.startswith("<") or ".." in parts:
            return None  # `<frozen ...>`, `node:internal/...`, outside the repo
        return str(PurePosixPath(*parts))  # `./a//b` -> `a/b`

    def own(self, raw: str) -> str | None:
        """The repo-relative path of a file of the repo's own code (not a dependency's)."""
        path = self.path(raw)
        return path if path and not _VENDORED.search(path) else None

    def free(self):
        """(index, line) of the lines no reader claimed."""
        return ((i, line) for i, line in enumerate(self.lines) if i not in self.claimed)


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _failure(path: str | None, line: int | str | None, message: str) -> Failure:
    return Failure(path, int(line) if line else None, _clip(message, MAX_MESSAGE))


def _join(parts: list[str]) -> str:
    """A few lines of a message as one: `Expected: 4; Received: 0`, `Difference: - 0; + 4`."""
    text = ""
    for part in parts[:6]:
        text += part if not text else (" " if text.endswith(":") else "; ") + part
    return text


def _titled(title: str, message: str) -> str:
    return f"{title}: {message}" if title else message


# --- Python: pytest, unittest, tracebacks -------------------------------------------------

_PYTEST_SECTION = re.compile(r"^=+ (FAILURES|ERRORS|short test summary info) =+$")
_PYTEST_SECTION_END = re.compile(r"^=+ .* =+$")
_PYTEST_BLOCK = re.compile(r"^_{3,} (?P<title>.+?) _{3,}$")
# `tests/test_x.py:12: AssertionError` (the failing frame), `pkg/calc.py:14: in lookup`, or a
# fixture's `/repo/tests/test_x.py:3`
_PYTEST_PLACE = re.compile(r"^(?P<path>[^\s:][^:]*\.\w+):(?P<line>\d+)(?::(?: (?P<what>.*))?)?$")
_PYTEST_SUMMARY = re.compile(r"^(?:FAILED|ERROR) (?P<path>[^\s:]+)(?:::(?P<test>\S+))?(?: - (?P<msg>.+))?$")
_PY_FRAME = re.compile(r'^\s*File "(?P<path>[^"]+)", line (?P<line>\d+)')
_EXCEPTION_NAME = re.compile(r"^[A-Z]\w*(\.\w+)*$")
_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*: \S")  # `KeyError: 'b'`, `Failed: DID NOT RAISE`
_TRACEBACK = "Traceback (most recent call last):"
_PYTEST_CAPTURED = re.compile(r"^-+ Captured .* -+$")


def _pytest(out: _Output) -> list[tuple[int, Failure]]:
    """The FAILURES and ERRORS sections' blocks (`____ test_add ____`), else the short test
    summary (`FAILED tests/test_x.py::test_y - msg`: no line)."""
    blocks: list[tuple[int, str, list[str]]] = []
    summary: list[tuple[int, Failure]] = []
    section = None
    for i, text in enumerate(out.lines):
        if match := _PYTEST_SECTION.match(text):
            section = match[1]
        elif section and _PYTEST_SECTION_END.match(text):
            section = None
        elif section is None:
            continue
        elif section == "short test summary info":
            if match := _PYTEST_SUMMARY.match(text):
                title = (match["test"] or "").replace("::", ".")
                summary.append((i, _failure(out.path(match["path"]), None, _titled(title, match["msg"] or "failed"))))
        elif match := _PYTEST_BLOCK.match(text):
            blocks.append((i, match["title"], []))
        elif blocks:
            blocks[-1][2].append(text)
        out.claimed.add(i)
    return [(i, _pytest_block(out, title, lines)) for i, title, lines in blocks] or summary


def _pytest_block(out: _Output, title: str, lines: list[str]) -> Failure:
    lines = list(takewhile(lambda line: not _PYTEST_CAPTURED.match(line), lines))
    errors = [line[1:].strip() for line in lines if line.startswith("E ")]
    places = [match for line in lines if (match := _PYTEST_PLACE.match(line))]
    if errors or places:
        # The deepest frame of the repo's own code; a SyntaxError's `File` line names the file itself.
        frames = [(path, m["line"]) for m in map(_PY_FRAME.match, errors) if m and (path := out.own(m["path"]))]
        frames = frames or [(path, m["line"]) for m in places if (path := out.own(m["path"]))]
        message = _pytest_message(errors, places)
    else:  # --tb=native: a plain traceback
        path, line, exception = _traceback(out, lines)
        frames, message = [(path, line)] if path else [], exception or "failed"
    collected = title.removeprefix("ERROR collecting ")
    if collected != title:
        path, line = frames[-1] if frames else (out.path(collected), None)
        return _failure(path, line, message)
    path, line = frames[-1] if frames else (None, None)
    return _failure(path, line, _titled(title, message))


def _pytest_message(errors: list[str], places: list[re.Match]) -> str:
    """The exception pytest shows (its `E` lines), named as the failing frame names it."""
    kind = places[-1]["what"] if places and _EXCEPTION_NAME.match(places[-1]["what"] or "") else None
    return (next((e for e in errors if kind and e.startswith(kind)), None)
            or next((e for e in errors if _EXCEPTION_LINE.match(e)), None)
            or (f"{kind}: {errors[0]}" if kind and errors else errors[0] if errors else "failed"))


def _traceback(out: _Output, lines: list[str]) -> tuple[str | None, str | None, str | None]:
    """The deepest frame of the repo's own code and the exception of the last traceback in
    ``lines`` (the exception another one led to comes after `During handling ...`)."""
    starts = [i for i, line in enumerate(lines) if line.strip() == _TRACEBACK]
    path, number, framed = None, None, False
    for line in lines[starts[-1] if starts else 0 :]:
        if match := _PY_FRAME.match(line):
            framed = True
            if own := out.own(match["path"]):
                path, number = own, match["line"]
        elif framed and line.strip() and not line[0].isspace():
            return path, number, line.strip()
    return path, number, None


_UNITTEST_HEADER = re.compile(r"^(?P<kind>FAIL|ERROR): (?P<name>\S+) \((?P<id>[^)]*)\)")
_RULE = re.compile(r"^(=|-){20,}$")


def _unittest(out: _Output) -> list[tuple[int, Failure]]:
    """`FAIL: test_x (mod.Class.test_x)`, its traceback and its exception, up to the next rule."""
    found = []
    for i, text in enumerate(out.lines):
        if not (match := _UNITTEST_HEADER.match(text)) or i == 0 or not _RULE.match(out.lines[i - 1]):
            continue
        end = i + 2
        while end < len(out.lines) and not _RULE.match(out.lines[end]):
            end += 1
        out.claimed.update(range(i, end))
        # `test_x (mod.Class.test_x)` since Python 3.11, `test_x (mod.Class)` before
        title = f"{match['id'].removesuffix('.' + match['name']).rsplit('.', 1)[-1]}.{match['name']}"
        path, line, exception = _traceback(out, out.lines[i + 2 : end])
        found.append((i, _failure(path, line, _titled(title, exception or match["kind"]))))
    return found


def _python_tracebacks(out: _Output) -> list[tuple[int, Failure]]:
    """A script's uncaught exception: `Traceback (most recent call last):` ..."""
    starts = [i for i, text in out.free() if text.strip() == _TRACEBACK]
    found = []
    for start, end in zip(starts, [*starts[1:], len(out.lines)], strict=False):
        path, line, exception = _traceback(out, out.lines[start:end])
        found.append((start, _failure(path, line, exception or "uncaught exception")))
    return found


# --- Go: go test (build errors and go vet are one-line formats) ---------------------------

_GO_TEST = re.compile(r"^\s*(?:=== (?:RUN|CONT|NAME|PAUSE)|--- (?P<verdict>FAIL|PASS|SKIP):)\s+(?P<name>\S+)")
_GO_LOG = re.compile(r"^\s+(?P<file>[\w.-]+\.go):(?P<line>\d+): (?P<msg>.+)$")  # t.Error: the package's file
_GO_PACKAGE = re.compile(r"^(?:FAIL|ok|\?)\s+(?P<package>[^\s/]\S*)\s")  # `FAIL\texample.com/m/sub\t0.01s`
_GO_FRAME = re.compile(r"^\t(?P<path>/\S+\.go):(?P<line>\d+)(?: \+0x[0-9a-f]+)?$")


def _go_test(out: _Output) -> list[tuple[int, Failure]]:
    """`--- FAIL: TestX` and the test's first `    x_test.go:12: message` (or its panic).

    A test's lines name files of its package's folder; the package comes after them
    (`FAIL\texample.com/m/sub`), and the folder is its path below the packages' common root."""
    tests: list[dict] = []  # the failed tests, in order
    why: dict[str, dict] = {}  # test -> its first log line, or its panic and the panic's first own frame
    packages: list[str] = []
    current = None
    for i, text in enumerate(out.lines):
        if match := _GO_TEST.match(text):
            current = match["name"]
            if match["verdict"] == "FAIL":
                tests.append({"at": i, "name": current, "package": None})
        elif current and current not in why and (match := _GO_LOG.match(text)):
            why[current] = {"file": match["file"], "line": match["line"], "message": match["msg"]}
        elif current and text.startswith("panic: "):
            why[current] = {"file": None, "line": None, "message": text.removesuffix(" [recovered]"),
                            "frame wanted": True}
        elif current and why.get(current, {}).get("frame wanted") and (match := _GO_FRAME.match(text)):
            if path := out.own(match["path"]):  # the innermost frame of the repo's own code
                why[current].update({"path": path, "line": match["line"], "frame wanted": False})
        elif match := _GO_PACKAGE.match(text):
            packages.append(match["package"])
            for test in tests:
                test["package"] = test["package"] or match["package"]
            current = None
        else:
            continue
        out.claimed.add(i)
    root = posixpath.commonpath(packages) if packages else ""
    found = []
    for test in tests:
        name = test["name"]
        if name not in why and any(other["name"].startswith(name + "/") for other in tests):
            continue  # a parent of failed subtests: they say why
        reason = why.get(name, {"file": None, "line": None, "message": "failed"})
        path = reason.get("path")
        if reason["file"]:
            folder = (test["package"] or root)[len(root) :].lstrip("/")
            path = out.path(posixpath.join(folder, reason["file"]))
        found.append((test["at"], _failure(path, reason["line"], f"{name}: {reason['message']}")))
    return found


# --- Rust: cargo build (rustc's `-->` format, shared with ruff) and cargo test ------------

_ARROW = re.compile(r"^\s*--> (?P<path>[^\s:]+):(?P<line>\d+)(?::\d+)?$")
_RUSTC_SEVERITY = re.compile(r"^error(?:\[(?P<code>\w+)\])?: ")
_RUST_PANIC = re.compile(
    r"^thread '(?P<name>[^']*)'(?: \(\d+\))? panicked at (?:'(?P<msg>.*)', )?(?P<path>[^\s:]+):(?P<line>\d+):\d+:?$")


def _arrows(out: _Output) -> list[tuple[int, Failure]]:
    """`error[E0425]: cannot find value` or ruff's `F401 [*] msg`, then `  --> src/lib.rs:3:5`."""
    found = []
    for i, text in enumerate(out.lines):
        if not (match := _ARROW.match(text)):
            continue
        header = next((j for j in range(i - 1, -1, -1) if out.lines[j].strip()), -1)
        line = out.lines[header] if header >= 0 else ""
        if not line or line[0].isspace() or line.startswith(("warning", "note", "help")):
            continue
        severity = _RUSTC_SEVERITY.match(line)
        message = line[severity.end() :] if severity else line.replace(" [*]", "", 1)
        if severity and severity["code"]:
            message = f"{severity['code']}: {message}"
        out.claimed.update((header, i))
        found.append((header, _failure(out.path(match["path"]), match["line"], message)))
    return found


def _rust_panics(out: _Output) -> list[tuple[int, Failure]]:
    """`thread 'tests::adds' panicked at src/lib.rs:15:9:` and the message lines under it."""
    found = []
    for i, text in enumerate(out.lines):
        if not (match := _RUST_PANIC.match(text)):
            continue
        message = [match["msg"]] if match["msg"] else [line.strip() for line in takewhile(
            lambda line: line.strip() and not line.startswith(("note:", "stack backtrace:")), out.lines[i + 1 :])]
        out.claimed.add(i)
        found.append((i, _failure(out.path(match["path"]), match["line"], f"{match['name']}: {_join(message)}")))
    return found


# --- JavaScript: jest, ava, node --test, eslint and xo (tsc is a one-line format) --------

_JS_FRAME = re.compile(r"^\s+at (?:async )?(?:.*?\()?(?P<path>[^\s()]+?):(?P<line>\d+):\d+\)?$")
_JEST_TITLE = re.compile(r"^\s+● (?P<title>.+)$")
_JEST_FILE = re.compile(r"^(?:FAIL|PASS) (?P<path>\S+)")
_JEST_END = re.compile(r"^(?:FAIL|PASS) |^Test Suites: |^\s+● ")
_JEST_CODE = re.compile(r"^\s*>?\s*\d+ \|")
_STACK = re.compile(r"^\s+at ")


def _first_own_frame(out: _Output, lines: list[str]) -> tuple[str | None, str | None]:
    for line in lines:
        if (match := _JS_FRAME.match(line)) and (path := out.own(match["path"])):
            return path, match["line"]
    return None, None


def _jest(out: _Output) -> list[tuple[int, Failure]]:
    """`● suite › test`, its message up to the code frame, and its first `at` in the repo."""
    found = []
    suite = None
    for i, text in enumerate(out.lines):
        if match := _JEST_FILE.match(text):
            suite = out.path(match["path"])
        if not (match := _JEST_TITLE.match(text)) or match["title"] == "Console":
            continue
        end = next((j for j in range(i + 1, len(out.lines)) if _JEST_END.match(out.lines[j])), len(out.lines))
        block = out.lines[i + 1 : end]
        out.claimed.update(range(i, end))
        above_code = takewhile(lambda entry: not (_JEST_CODE.match(entry) or _STACK.match(entry)), block)
        message = [entry.strip() for entry in above_code if entry.strip()]
        path, line = _first_own_frame(out, block)
        found.append((i, _failure(path or suite, line, _titled(match["title"], _join(message) or "failed"))))
    return found


_AVA_FAIL = re.compile(r"^\s+✘ \[fail\]: (?P<rest>.+)$")
_AVA_PLACE = re.compile(r"^\s+(?P<path>[^\s:]+\.\w+):(?P<line>\d+)$")
_AVA_CODE = re.compile(r"^\s+\d+: ")


def _ava(out: _Output) -> list[tuple[int, Failure]]:
    """`✘ [fail]: title`, then the title's block in the details: `  test.js:12`, the code,
    and what went wrong (a `Difference`, or the thrown error's line above its stack)."""
    fails = [(i, match["rest"]) for i, text in enumerate(out.lines) if (match := _AVA_FAIL.match(text))]
    found = []
    for at, rest in fails[: out.limit]:  # `rest`: the title, and after it what ava says of the failure
        out.claimed.add(at)
        titles = (j for j in range(at + 1, len(out.lines)) if not _AVA_FAIL.match(out.lines[j])
                  and (title := out.lines[j].strip()) and (rest == title or rest.startswith(title + " ")))
        start = next(titles, None)
        if start is None:
            found.append((at, _failure(None, None, rest)))
            continue
        title = out.lines[start].strip()
        end = next((j for j in range(start + 1, len(out.lines)) if out.lines[j].strip().startswith(("─", "›"))),
                   len(out.lines))
        block = out.lines[start + 1 : end]
        out.claimed.update(range(start, end + 1))
        place = next((m for line in block if (m := _AVA_PLACE.match(line)) and out.own(m["path"])), None)
        path, line = (out.own(place["path"]), place["line"]) if place else _first_own_frame(out, block)
        frames = [j for j, text in enumerate(block) if _STACK.match(text)]
        details = [text.strip() for text in block[: frames[0]] if text.strip()] if frames else []
        message = details[-1] if details else _join([text.strip() for text in block if text.strip() and not (
            _AVA_PLACE.match(text) or _AVA_CODE.match(text))])
        found.append((at, _failure(path, line, _titled(title, message or "failed"))))
    return found


_TAP_FAIL = re.compile(r"^(?P<indent>\s*)not ok \d+ - (?P<title>.*?)(?P<directive> # (?:TODO|SKIP)\b.*)?$")
_TAP_FIELD = re.compile(r"^(?P<indent>\s+)(?P<key>\w+): (?P<value>.*)$")
_TAP_FRAME = re.compile(r"^(?:.*?\()?(?P<path>[^\s()]+?):(?P<line>\d+):\d+\)?$")  # `at`-less, in `stack: |-`
_NODE_SPEC_FAIL = re.compile(r"^(?P<indent>\s*)✖ (?P<title>.+?)(?: \([\d.]+m?s\))?$")


def _node_tap(out: _Output) -> list[tuple[int, Failure]]:
    """node --test's TAP (its default without a terminal): `not ok 1 - title` and its YAML
    block's `error`, `stack` and `location`; a suite whose subtests failed is no failure."""
    found = []
    for i, text in enumerate(out.lines):
        if not (match := _TAP_FAIL.match(text)) or match["directive"]:
            continue
        fields: dict[str, list[str]] = {}  # a YAML block: `key: value`, or `key: |-` and lines under it
        depth = len(match["indent"]) + 2
        yaml = out.lines[i + 1 : i + 2] == [" " * depth + "---"]
        for entry in takewhile(lambda entry: entry.strip() != "...", out.lines[i + 2 :] if yaml else []):
            if (field := _TAP_FIELD.match(entry)) and len(field["indent"]) == depth:
                key = field["key"]
                fields[key] = [] if field["value"] in ("|-", "|", ">-", ">") else [field["value"].strip("'\"")]
            elif fields:
                fields[key].append(entry.strip())
        if fields.get("failureType") == ["subtestsFailed"]:
            continue
        place = next((m for entry in fields.get("stack", []) if (m := _TAP_FRAME.match(entry)) and out.own(m["path"])),
                     None) or _TAP_FRAME.match("".join(fields.get("location", [])))
        path, line = (out.own(place["path"]), place["line"]) if place else (None, None)
        message = _join([entry for entry in fields.get("error", []) if entry]) or "failed"
        found.append((i, _failure(path, line, _titled(match["title"], message))))
    return found


def _depth(line: str) -> int:
    return len(line) - len(line.lstrip())


def _indented(lines: list[str], start: int, depth: int) -> list[str]:
    """The lines from ``start`` on that are indented deeper than ``depth``, or blank."""
    shallow = (j for j in range(start, len(lines)) if lines[j].strip() and _depth(lines[j]) <= depth)
    end = next(shallow, len(lines))
    return lines[start:end]


def _node_spec(out: _Output) -> list[tuple[int, Failure]]:
    """node --test's spec reporter: `✖ title (1.2ms)`, its error and its stack, indented under it."""
    found = []
    for i, text in enumerate(out.lines):
        if not (match := _NODE_SPEC_FAIL.match(text)):
            continue
        block = _indented(out.lines, i + 1, len(match["indent"]))
        message = [line.strip() for line in takewhile(lambda line: not _STACK.match(line), block) if line.strip()]
        if message:  # not a suite, nor the `✖ failing tests:` heading
            found.append((i, _failure(*_first_own_frame(out, block), _titled(match["title"], _join(message)))))
    return found


_ESLINT_MESSAGE = re.compile(r"^\s+(?:(?P<mark>[✖⚠])\s+)?(?P<line>\d+):\d+\s+(?:(?P<severity>error|warning)\s+)?"
                             r"(?P<msg>.+?)(?:\s{2,}(?P<rule>[\w@/-]+))?\s*$")
_XO_FILE = re.compile(r"^\s+(?P<path>\S+\.\w+):\d+:\d+$")


def _eslint(out: _Output) -> list[tuple[int, Failure]]:
    """eslint's stylish format (`/repo/lib/x.js`, then `  3:5  error  msg  rule`) and xo's
    (`  lib/x.js:3:5`, then `  ✖  3:5  msg  rule`): the errors, else the warnings."""
    errors: list[tuple[int, Failure]] = []
    warnings: list[tuple[int, Failure]] = []
    file = None
    for i, text in enumerate(out.lines):
        match = _ESLINT_MESSAGE.match(text)
        if match and file and (match["severity"] or match["mark"]):
            message = f"{match['msg']} ({match['rule']})" if match["rule"] else match["msg"]
            warning = match["severity"] == "warning" or match["mark"] == "⚠"
            if len(kept := warnings if warning else errors) < out.limit:
                kept.append((i, _failure(out.path(file), match["line"], message)))
            out.claimed.add(i)
        elif match := _XO_FILE.match(text):
            file = match["path"]
        elif text.strip() and not text[0].isspace():
            file = text.strip()
    return errors or warnings


# --- One line each: mypy, tsc, ruff, flake8, go build and vet, a traceback's last frame ---

_PATH = r"[^\s:'\"()]+\.\w+"
_LINE_FORMATS = [
    # mypy `x.py:3: error: msg  [code]` (`x.py:3:5:` with columns); gcc and clang too
    re.compile(rf"^(?P<path>{_PATH}):(?P<line>\d+):(?:\d+:)? error: (?P<msg>.+)$"),
    # tsc `src/a.ts(3,5): error TS2322: msg` and, with --pretty, `src/a.ts:3:5 - error TS2322: msg`
    re.compile(rf"^(?P<path>{_PATH})\((?P<line>\d+),\d+\): error (?P<msg>TS\d+: .+)$"),
    re.compile(rf"^(?P<path>{_PATH}):(?P<line>\d+):\d+ - error (?P<msg>TS\d+: .+)$"),
    # ruff (concise), flake8, go build, go vet: `path:line:col: message`
    re.compile(rf"^(?:vet: )?(?P<path>{_PATH}):(?P<line>\d+):\d+: (?!warning:|note:)(?P<msg>.+)$"),
    # the failing frame as pytest prints it: `tests/test_x.py:12: AssertionError`
    re.compile(rf"^(?P<path>{_PATH}):(?P<line>\d+): (?P<msg>[A-Z]\w*(?:Error|Exception))$"),
]


_LINE_NUMBER = re.compile(r"[:(]\d")  # what each of them has; most lines of an output have not


def _one_liners(out: _Output) -> list[tuple[int, Failure]]:
    found = []
    for i, text in out.free():
        for pattern in _LINE_FORMATS if _LINE_NUMBER.search(text) else []:
            if match := pattern.match(text):
                found.append((i, _failure(out.path(match["path"]), match["line"], match["msg"].replace(" [*]", "", 1))))
                break
        if len(found) == out.limit:
            break
    return found


# In this order: the block readers claim their lines before the readers of free lines run.
_READERS = [_pytest, _unittest, _go_test, _rust_panics, _arrows, _jest, _ava, _node_tap, _node_spec, _eslint,
            _python_tracebacks, _one_liners]
