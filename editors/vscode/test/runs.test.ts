import * as assert from "node:assert/strict";
import { test } from "node:test";
import { RunRow, describeRun, isActive, runActions, statusBarText } from "../src/runs";

function run(overrides: Partial<RunRow>): RunRow {
  return {
    id: "1a2b3c",
    status: "ok",
    task: "make add() add\nand say so",
    branch: "minion/make-add-add-1a2b3c",
    files: ["calc/ops.py"],
    cost_usd: 0.125,
    checks_ok: true,
    created_at: "2026-11-21T10:00:00Z",
    report_uri: "file:///state/reports/1a2b3c.md",
    ...overrides,
  };
}

test("a run shows its status, cost and branch", () => {
  assert.deepEqual(describeRun(run({})), {
    label: "$(pass) make add() add",
    description: "ok · $0.13 · minion/make-add-add-1a2b3c",
    detail: "1a2b3c · 2026-11-21T10:00:00Z · 1 file · checks passed",
  });
  const failed = describeRun(run({ status: "capped_cost", files: [], checks_ok: null, branch: null, task: "x".repeat(100) }));
  assert.equal(failed.label, `$(error) ${"x".repeat(69)}…`);
  assert.equal(failed.description, "capped_cost · $0.13 · no branch");
  assert.equal(failed.detail, "1a2b3c · 2026-11-21T10:00:00Z · 0 files · no checks");
});

test("an active run can be opened or cancelled", () => {
  const active = run({ status: "running" });
  assert.equal(isActive(active), true);
  assert.deepEqual(
    runActions(active).map((a) => [a.command, a.arguments]),
    [["minion.openReport", ["1a2b3c"]], ["minion.cancel", ["1a2b3c"]]],
  );
});

test("a finished run can be opened, applied when it changed files, and discarded", () => {
  assert.equal(isActive(run({})), false);
  assert.deepEqual(
    runActions(run({})).map((a) => a.command),
    ["minion.openReport", "minion.apply", "minion.discard"],
  );
  assert.deepEqual(
    runActions(run({ status: "failed", files: [] })).map((a) => a.command),
    ["minion.openReport", "minion.discard"],
  );
});

test("an interrupted run can also be resumed", () => {
  for (const status of ["lost", "cancelled", "stuck", "capped_cost", "capped_time"]) {
    assert.deepEqual(
      runActions(run({ status })).map((a) => a.command),
      ["minion.openReport", "minion.apply", "minion.resume", "minion.discard"],
      status,
    );
  }
});

test("the status bar counts active runs", () => {
  assert.equal(statusBarText(0), "$(hubot) minion");
  assert.equal(statusBarText(2), "$(sync~spin) minion: 2");
});
