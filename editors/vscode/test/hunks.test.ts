import * as assert from "node:assert/strict";
import { test } from "node:test";
import {
  APPLY_HUNK,
  anchorLine,
  applyMessage,
  commonBlocks,
  fileHunkStates,
  hunkAt,
  hunkDecoration,
  hunkHover,
  hunkLenses,
  hunkState,
  splitLines,
} from "../src/hunks";
import type { FileChange, HunkSpan } from "../src/wire";

// The run of the editor test: a docstring on top, neg() between add() and mul().
const BASE = "def add(a, b):\n    return a - b\n\n\ndef mul(a, b):\n    return 0\n";
const HEAD = '"""Arithmetic."""\n\n\ndef add(a, b):\n    return a - b\n\n\ndef neg(a):\n    return -a\n\n\ndef mul(a, b):\n    return 0\n';
const DOC: HunkSpan = { index: 0, base_start: 0, base_count: 0, head_start: 0, head_count: 3 };
const NEG: HunkSpan = { index: 1, base_start: 4, base_count: 0, head_start: 7, head_count: 4 };
const FILE: FileChange = { path: "calc/ops.py", change: "modified", hunks: [DOC, NEG] };

test("lines keep their endings and a last line without one, as git counts them", () => {
  assert.deepEqual(splitLines("a\nb\n"), ["a\n", "b\n"]);
  assert.deepEqual(splitLines("a\nb"), ["a\n", "b"]);
  assert.deepEqual(splitLines(""), []);
});

test("the common lines of two texts, as blocks", () => {
  assert.deepEqual(commonBlocks(["a", "b", "c"], ["a", "b", "c"]), [{ a: 0, b: 0, n: 3 }]);
  assert.deepEqual(commonBlocks(["a", "b", "c"], ["a", "x", "y", "c"]), [
    { a: 0, b: 0, n: 1 },
    { a: 2, b: 3, n: 1 },
  ]);
  assert.deepEqual(commonBlocks(["a", "b"], ["z", "a", "b"]), [{ a: 0, b: 1, n: 2 }]);
  assert.deepEqual(commonBlocks([], ["a"]), []);
});

test("a hunk is pending on the run's base and applied once the user's text has it", () => {
  const base = splitLines(BASE);
  const head = splitLines(HEAD);
  assert.equal(hunkState(NEG, base, head, base), "pending");
  assert.equal(hunkState(DOC, base, head, base), "pending");
  assert.equal(hunkState(NEG, base, head, head), "applied");
  assert.equal(hunkState(DOC, base, head, head), "applied");
  // Only neg() applied, to a text the user changed elsewhere (add fixed, a line typed on top).
  const user = splitLines("# mine\ndef add(a, b):\n    return a + b\n\n\ndef neg(a):\n    return -a\n\n\ndef mul(a, b):\n    return 0\n");
  assert.equal(hunkState(NEG, base, head, user), "applied");
  assert.equal(hunkState(DOC, base, head, user), "pending");
});

test("an added blank line is not taken for one of the user's", () => {
  const base = splitLines("a\n\nb\nc\n");
  const head = splitLines("a\n\nb\n\nc\n");
  const span: HunkSpan = { index: 0, base_start: 3, base_count: 0, head_start: 3, head_count: 1 };
  assert.equal(hunkState(span, base, head, base), "pending");
  assert.equal(hunkState(span, base, head, head), "applied");
  assert.equal(hunkState(span, base, head, splitLines("a\n\nb\n\nc\nmore\n")), "applied");
});

test("a replacement is pending while its old lines are there, applied when the new ones are", () => {
  const base = splitLines("a\nb\nc\n");
  const head = splitLines("a\nB\nc\n");
  const span: HunkSpan = { index: 0, base_start: 1, base_count: 1, head_start: 1, head_count: 1 };
  assert.equal(hunkState(span, base, head, splitLines("a\nb\nc\n")), "pending");
  assert.equal(hunkState(span, base, head, splitLines("x\na\nB\nc\n")), "applied");
  assert.equal(hunkState(span, base, head, splitLines("a\nsomething else\nc\n")), "pending"); // the server says it no longer applies
});

test("a deletion is applied when its lines are gone and nothing took their place; a deleted file when the file is gone", () => {
  const base = splitLines("a\nb\nc\n");
  const head = splitLines("a\nc\n");
  const span: HunkSpan = { index: 0, base_start: 1, base_count: 1, head_start: 1, head_count: 0 };
  assert.equal(hunkState(span, base, head, base), "pending");
  assert.equal(hunkState(span, base, head, splitLines("a\nc\n")), "applied");
  assert.equal(hunkState(span, base, head, splitLines("a\nx\nc\n")), "pending");
  const whole: HunkSpan = { index: 0, base_start: 0, base_count: 3, head_start: 0, head_count: 0 };
  assert.equal(hunkState(whole, base, [], undefined), "applied");
  assert.equal(hunkState(whole, base, [], base), "pending");
});

test("an added file is pending until the user has it", () => {
  const span: HunkSpan = { index: 2, base_start: 0, base_count: 0, head_start: 0, head_count: 2 };
  const added: FileChange = { path: "calc/new.py", change: "added", hunks: [span] };
  assert.deepEqual(fileHunkStates(added, null, "x = 1\ny = 2\n", undefined), [{ span, state: "pending" }]);
  assert.deepEqual(fileHunkStates(added, null, "x = 1\ny = 2\n", "x = 1\ny = 2\n"), [{ span, state: "applied" }]);
});

test("the hunk under a line: its lines on that side, else the point it comes before", () => {
  const spans = [DOC, NEG];
  assert.equal(hunkAt(spans, "head", 0, 14), DOC);
  assert.equal(hunkAt(spans, "head", 2, 14), DOC);
  assert.equal(hunkAt(spans, "head", 3, 14), undefined);
  assert.equal(hunkAt(spans, "head", 8, 14), NEG);
  assert.equal(hunkAt(spans, "head", 10, 14), NEG);
  assert.equal(hunkAt(spans, "head", 11, 14), undefined);
  assert.equal(hunkAt(spans, "base", 0, 6), DOC); // nothing of it on the base side: the line it comes before
  assert.equal(hunkAt(spans, "base", 4, 6), NEG);
  assert.equal(hunkAt(spans, "base", 1, 6), undefined);
  const atEnd: HunkSpan = { index: 3, base_start: 5, base_count: 1, head_start: 5, head_count: 0 };
  assert.equal(hunkAt([atEnd], "head", 4, 5), atEnd); // after the last line: on the last line
  assert.equal(anchorLine(atEnd, "head", 5), 4);
  assert.equal(anchorLine(NEG, "head", 14), 7);
});

test("the lenses: Apply this change on each pending hunk (the run and the index), a check on an applied one", () => {
  const states = fileHunkStates(FILE, BASE, HEAD, "def add(a, b):\n    return a - b\n\n\ndef neg(a):\n    return -a\n\n\ndef mul(a, b):\n    return 0\n");
  assert.deepEqual(
    states.map((entry) => entry.state),
    ["pending", "applied"],
  );
  const lenses = hunkLenses("1a2b", "calc/ops.py", states, "head", 14, "file:///r/calc/ops.py");
  assert.deepEqual(
    lenses.map(({ line, title, command, arguments: args }) => ({ line, title, command, args })),
    [
      { line: 0, title: "$(check) Apply this change", command: APPLY_HUNK, args: ["1a2b", 0] },
      { line: 7, title: "$(check) Applied", command: "vscode.open", args: ["file:///r/calc/ops.py"] },
    ],
  );
  assert.match(lenses[0].tooltip, /change 1 of 2: adds 3 lines/);
});

test("the hover: what the change does and its Apply link with the run and the index, or that it is applied", () => {
  const pending = hunkHover("1a2b", "calc/ops.py", NEG, 2, 2, "pending");
  assert.match(pending, /\*\*minion 1a2b\*\*, change 2 of 2: adds 4 lines/);
  const link = /\(command:([^?]+)\?([^ ]+) /.exec(pending);
  assert.ok(link, pending);
  assert.equal(link[1], APPLY_HUNK);
  assert.deepEqual(JSON.parse(decodeURIComponent(link[2])), ["1a2b", 1]);
  const applied = hunkHover("1a2b", "calc/ops.py", { ...NEG, base_count: 2, head_count: 0 }, 2, 2, "applied");
  assert.match(applied, /change 2 of 2: removes 2 lines/);
  assert.match(applied, /Applied/);
  assert.doesNotMatch(applied, /command:/);
  assert.match(hunkHover("x", "p", { ...NEG, base_count: 1 }, 1, 1, "pending"), /replaces 1 line with 4/);
  assert.notEqual(hunkDecoration("applied"), hunkDecoration("pending"));
});

test("what the user hears after Apply: applied, refused by the editor, or skipped by the server", () => {
  assert.deepEqual(applyMessage({ applied: 1, skipped: 0 }, "calc/ops.py"), { text: "minion: applied the change to calc/ops.py", warn: false });
  assert.deepEqual(applyMessage({ applied: 0, skipped: 1, failureReason: "the file changed" }, "a.py"), {
    text: "minion: the change was not applied to a.py: the file changed",
    warn: true,
  });
  assert.match(applyMessage({ applied: 0, skipped: 1 }, "a.py")?.text ?? "", /no longer has the lines/);
  assert.equal(applyMessage(undefined, "a.py"), undefined);
});
