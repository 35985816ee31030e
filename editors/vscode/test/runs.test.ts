import * as assert from "node:assert/strict";
import { test } from "node:test";

// Local time is what the runs list shows: pin the zone (+05:30, no daylight saving time).
process.env.TZ = "Asia/Kolkata";

import { runRow } from "./fixtures/rows";
import { RunRow, describeRun, isActive, localTime, runActions } from "../src/runs";

const CREATED = Date.UTC(2026, 10, 21, 10, 0, 0) / 1000 + 0.27; // 2026-11-21T10:00:00.27Z, as the server sends it

function run(overrides: Partial<RunRow>): RunRow {
  return runRow({ created_at: CREATED, title: "done · turn 4/60 · 42 s · $0.13", ...overrides });
}

test("a run shows its status, cost, branch and when it started, in local time", () => {
  assert.deepEqual(describeRun(run({})), {
    label: "$(pass) make add() add",
    description: "ok · $0.13 · minion/make-add-add-1a2b3c",
    detail: "1a2b3c · 2026-11-21 15:30 · 1 file · checks passed",
  });
  const failed = describeRun(run({ status: "capped_cost", files: [], checks_ok: null, branch: null, task: "x".repeat(100) }));
  assert.equal(failed.label, `$(error) ${"x".repeat(69)}…`);
  assert.equal(failed.description, "capped_cost · $0.13 · no branch");
  assert.equal(failed.detail, "1a2b3c · 2026-11-21 15:30 · 0 files · no checks");
});

test("a moment is shown as the local date and time, to the minute", () => {
  assert.equal(localTime(CREATED), "2026-11-21 15:30");
  assert.equal(localTime(Date.UTC(2026, 0, 1, 18, 45, 59) / 1000), "2026-01-02 00:15"); // the next day here
});

test("a run is active until the server says it ended", () => {
  assert.equal(isActive(run({ status: "running", ended: false })), true);
  assert.equal(isActive(run({ status: "queued", ended: false })), true);
  assert.equal(isActive(run({})), false);
});

test("a run offers the server's actions, in its order, each on the run", () => {
  const active = run({ status: "running", ended: false, resumable: true, actions: ["minion.openReport", "minion.cancel"] });
  assert.deepEqual(
    runActions(active).map((a) => [a.label, a.command, a.arguments]),
    [
      ["$(book) Open report", "minion.openReport", ["1a2b3c"]],
      ["$(stop) Cancel run", "minion.cancel", ["1a2b3c"]],
    ],
  );
  const capped = run({ status: "capped_cost", resumable: true, actions: ["minion.openReport", "minion.apply", "minion.resume", "minion.discard"] });
  assert.deepEqual(
    runActions(capped).map((a) => a.label),
    ["$(book) Open report", "$(check-all) Apply all changes", "$(debug-continue) Resume run", "$(trash) Discard run"],
  );
  assert.deepEqual(runActions(run({ status: "failed", files: [], actions: ["minion.openReport", "minion.discard"] })).map((a) => a.command), [
    "minion.openReport",
    "minion.discard",
  ]);
});
