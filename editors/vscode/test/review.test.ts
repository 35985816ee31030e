import * as assert from "node:assert/strict";
import { test } from "node:test";
import { Commands, SCHEME, diffEntries, diffTitle, isReport, openDiff, parseRunFileUri, runFileUri } from "../src/review";

test("a run's file has a minion-run: URI per side that keeps its name, and parses back", () => {
  const head = runFileUri({ runId: "1a2b", path: "calc/ops.py", side: "head" });
  assert.deepEqual(head, { scheme: SCHEME, path: "/calc/ops.py", query: "run=1a2b&side=head" });
  assert.deepEqual(parseRunFileUri(head), { runId: "1a2b", path: "calc/ops.py", side: "head" });
  const odd = runFileUri({ runId: "1a2b", path: "dir with space/a&b=c.py", side: "base" });
  assert.deepEqual(parseRunFileUri(odd), { runId: "1a2b", path: "dir with space/a&b=c.py", side: "base" });
  assert.equal(parseRunFileUri({ scheme: "file", path: "/calc/ops.py", query: "run=1a2b&side=head" }), undefined);
  assert.equal(parseRunFileUri({ scheme: SCHEME, path: "/calc/ops.py", query: "run=1a2b&side=theirs" }), undefined);
  assert.equal(parseRunFileUri({ scheme: SCHEME, path: "/calc/ops.py", query: "side=head" }), undefined);
});

const show = (parts: { scheme: string; path: string; query: string }) => `${parts.scheme}:${parts.path}?${parts.query}`;

test("the diff's entries: the workspace file, its base (the old path of a rename) and its head", () => {
  const entries = diffEntries(
    "1a2b",
    [
      { path: "calc/ops.py", change: "modified" },
      { path: "calc/new.py", change: "renamed", old_path: "calc/old.py" },
      { path: "calc/added.py", change: "added" },
    ],
    (path) => `file:///r/${path}`,
    show,
  );
  assert.deepEqual(entries, [
    { label: "file:///r/calc/ops.py", base: "minion-run:/calc/ops.py?run=1a2b&side=base", head: "minion-run:/calc/ops.py?run=1a2b&side=head", path: "calc/ops.py" },
    { label: "file:///r/calc/new.py", base: "minion-run:/calc/old.py?run=1a2b&side=base", head: "minion-run:/calc/new.py?run=1a2b&side=head", path: "calc/new.py" },
    { label: "file:///r/calc/added.py", base: "minion-run:/calc/added.py?run=1a2b&side=base", head: "minion-run:/calc/added.py?run=1a2b&side=head", path: "calc/added.py" },
  ]);
});

function fakeCommands(known: string[], refuse: string[] = []): Commands & { calls: unknown[][] } {
  const calls: unknown[][] = [];
  return {
    calls,
    all: async () => known,
    execute: async (command: string, ...args: unknown[]) => {
      calls.push([command, ...args]);
      if (refuse.includes(command)) {
        throw new Error(`command '${command}' not found`);
      }
      return undefined;
    },
  };
}

const entries = diffEntries("1a2b", [{ path: "a.py", change: "modified" }, { path: "b.py", change: "deleted" }], (p) => `file:///r/${p}`, show);

test("open diff: the native multi-file diff with [uri, base, head] triples where vscode.changes exists", async () => {
  const commands = fakeCommands(["vscode.diff", "vscode.changes"]);
  assert.equal(await openDiff(commands, "minion 1a2b: fix", entries), "changes");
  assert.deepEqual(commands.calls, [
    ["vscode.changes", "minion 1a2b: fix", entries.map((e) => [e.label, e.base, e.head])],
  ]);
});

test("open diff: one vscode.diff per file without vscode.changes, or when it refuses", async () => {
  const without = fakeCommands(["vscode.diff"]);
  assert.equal(await openDiff(without, "t", entries), "diff");
  assert.deepEqual(without.calls, [
    ["vscode.diff", entries[0].base, entries[0].head, "a.py (t)", { preview: false }],
    ["vscode.diff", entries[1].base, entries[1].head, "b.py (t)", { preview: false }],
  ]);
  const refusing = fakeCommands(["vscode.diff", "vscode.changes"], ["vscode.changes"]);
  assert.equal(await openDiff(refusing, "t", entries.slice(0, 1)), "diff");
  assert.deepEqual(refusing.calls.map((call) => call[0]), ["vscode.changes", "vscode.diff"]);
  assert.deepEqual(refusing.calls[1][4], { preview: true });
  const none = fakeCommands(["vscode.changes"]);
  assert.equal(await openDiff(none, "t", []), "none");
  assert.deepEqual(none.calls, []);
});

test("the diff's title is the run and its task's first line, bounded", () => {
  assert.equal(diffTitle("1a2b", "make add() add\nmore"), "minion 1a2b: make add() add");
  assert.equal(diffTitle("1a2b", "x".repeat(80)), `minion 1a2b: ${"x".repeat(49)}…`);
});

test("a markdown report opens rendered; the compare URL and other documents do not", () => {
  assert.equal(isReport("file:///state/reports/1a2b.md", undefined), true);
  assert.equal(isReport("file:///state/reports/1a2b.MD", false), true);
  assert.equal(isReport("https://github.com/o/r/compare/main...minion/x", true), false);
  assert.equal(isReport("file:///r/calc/ops.py", false), false);
  assert.equal(isReport("file:///state/reports/1a2b.md", true), false);
});
