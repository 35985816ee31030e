import * as assert from "node:assert/strict";
import { test } from "node:test";
import { needsInstruction, selectionDelegation, todoCandidateLines, todoHandOffs, todoPatterns } from "../src/delegate";

const range = { start: { line: 1, character: 0 }, end: { line: 3, character: 0 } };

test("a selection delegation is the contract's argument with the instruction", () => {
  assert.deepEqual(selectionDelegation("file:///r/a.py", range, "  fix it \n"), {
    uri: "file:///r/a.py",
    range,
    kind: "selection",
    instruction: "fix it",
    diagnostic: null,
  });
  assert.deepEqual(selectionDelegation("file:///r/a.py", range, "fix it", { text: "def a():\n", version: 7 }), {
    uri: "file:///r/a.py",
    range,
    kind: "selection",
    instruction: "fix it",
    diagnostic: null,
    text: "def a():\n",
    version: 7,
  });
});

test("only a selection without an instruction is prompted for", () => {
  assert.equal(needsInstruction({ uri: "u", range, kind: "selection", instruction: null }), true);
  assert.equal(needsInstruction({ uri: "u", range, instruction: "   " }), true); // kind defaults to selection
  assert.equal(needsInstruction({ uri: "u", range, kind: "selection", instruction: "do it" }), false);
  assert.equal(needsInstruction({ uri: "u", range, kind: "todo", instruction: null }), false);
  assert.equal(needsInstruction({ uri: "u", range, kind: "diagnostic", instruction: null }), false);
  assert.equal(needsInstruction(undefined), false);
  assert.equal(needsInstruction("minion.delegate"), false);
});

test("TODO candidates are the lines with a marker", () => {
  const text = "a = 1\n# TODO(minion): one\r\nb = 'TODO: minion in a string'\n# TODO: someone else\n";
  assert.deepEqual(todoCandidateLines(text, ["TODO(minion)", "TODO: minion"]), [1, 2]);
  assert.deepEqual(todoCandidateLines(text, []), []);
});

test("TODO hand-offs: the delegate commands of kind todo, once per TODO", () => {
  const handOff = (line: number) => ({
    command: "minion.delegate",
    arguments: [{ uri: "file:///r/a.py", range: { start: { line, character: 0 }, end: { line: line + 2, character: 0 } }, kind: "todo" }],
  });
  const actions = [
    { title: "Hand off TODO to minion", kind: "quickfix", command: { title: "Hand off TODO to minion", ...handOff(4) } },
    { title: "Hand off TODO to minion", kind: "quickfix", command: { title: "Hand off TODO to minion", ...handOff(4) } },
    { title: "Ask minion to fix: E1", command: { title: "x", command: "minion.delegate", arguments: [{ kind: "diagnostic", range }] } },
    { title: "Apply this change (minion ab12)", command: { title: "y", command: "minion.applyHunk", arguments: ["ab12", 0] } },
    { title: "Hand off TODO to minion", ...handOff(9) }, // a plain Command, from a client without literals
  ];
  assert.deepEqual(todoHandOffs(actions), [
    { title: "Hand off TODO to minion", ...handOff(4) },
    handOff(9),
  ]);
});

test("the TODO markers are the server's, from capabilities.experimental.minion", () => {
  assert.deepEqual(todoPatterns({ minion: { todo_patterns: ["FIXME(minion)", "TODO(bot)"] } }), ["FIXME(minion)", "TODO(bot)"]);
  assert.deepEqual(todoPatterns({ minion: { todo_patterns: ["ok", 3, null] } }), ["ok"]);
  // A server that says nothing of them: no markers (the extension keeps no copy of the default).
  assert.deepEqual(todoPatterns(undefined), []);
  assert.deepEqual(todoPatterns(null), []);
  assert.deepEqual(todoPatterns({ other: {} }), []);
});

test("a duplicate answer is told from a started run", async () => {
  const { isDuplicate } = await import("../src/contract");
  assert.equal(isDuplicate({ duplicateOf: "1a2b", status: "running" }), true);
  assert.equal(isDuplicate({ runId: "1a2b", branch: "minion/x", status: "queued" }), false);
  assert.equal(isDuplicate(undefined), false);
  assert.equal(isDuplicate(null), false);
});
