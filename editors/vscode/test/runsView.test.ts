import * as assert from "node:assert/strict";
import { test } from "node:test";
import type { NodeRow, RunRow, RunStatus } from "../src/contract";
import { runRow } from "./fixtures/rows";
import { OPEN_DIFF, REVISE, SHOW_LOG, nodeItem, rowCommands, runItem, statusItem, withStatus } from "../src/runsView";

const at = (seconds: number) => `@${seconds}`;

function row(overrides: Partial<RunRow> = {}): RunRow {
  return runRow({ created_at: 100, title: "", ...overrides });
}

function status(overrides: Partial<RunStatus> = {}): RunStatus {
  return {
    id: "1a2b3c",
    status: "running",
    node: "implement",
    branch: "minion/x",
    actions: ["minion.openReport", "minion.cancel"],
    resumable: true,
    ended: false,
    active: 1,
    repo: "/r",
    turns: 3,
    max_turns: 60,
    elapsed_s: 42,
    cost_usd: 0.08,
    title: "implement · turn 3/60 · 42 s · $0.08",
    ...overrides,
  };
}

test("an ended run's row: the task, how it ended, its commands for the menus", () => {
  const item = runItem(row(), at);
  assert.equal(item.id, "run:1a2b3c");
  assert.equal(item.label, "make add() add");
  assert.equal(item.description, "ok · 1 file · $0.13 · checks passed");
  assert.deepEqual([item.icon, item.color], ["pass", "testing.iconPassed"]);
  assert.equal(item.collapsible, true);
  assert.equal(item.contextValue, "minionRun minion.view.openDiff minion.view.openReport minion.view.apply minion.view.discard minion.view.revise minion.view.showLog");
  assert.match(item.tooltip, /^make add\(\) add\nand say so\n\nrun 1a2b3c · ok\nbranch: minion\/make-add-add-1a2b3c\nstarted @100\nfiles: calc\/ops.py$/);
});

test("an active run's row shows its live title, and offers cancel but neither revise nor diff before it has files", () => {
  const active = row({ status: "running", ended: false, resumable: true, files: [], actions: ["minion.openReport", "minion.cancel"], title: "implement · turn 3/60 · 42 s · $0.08" });
  const item = runItem(active, at);
  assert.equal(item.description, "implement · turn 3/60 · 42 s · $0.08");
  assert.equal(item.icon, "sync~spin");
  assert.deepEqual(rowCommands(active), ["minion.view.openReport", "minion.view.cancel", SHOW_LOG]);
  // No title (yet): the node, else the status.
  assert.equal(runItem({ ...active, title: "", node: "plan" }, at).description, "plan");
  assert.equal(runItem({ ...active, title: "", node: null, status: "queued" }, at).description, "queued");
});

test("the commands follow the server's actions, in its order; diff needs files on a branch, revise a finished branch", () => {
  const capped = row({ status: "capped_cost", resumable: true, actions: ["minion.openReport", "minion.apply", "minion.resume", "minion.discard"] });
  assert.deepEqual(rowCommands(capped), [OPEN_DIFF, "minion.view.openReport", "minion.view.apply", "minion.view.resume", "minion.view.discard", REVISE, SHOW_LOG]);
  const nothing = row({ status: "failed", files: [], branch: null, checks_ok: null, actions: ["minion.openReport", "minion.discard"] });
  assert.deepEqual(rowCommands(nothing), ["minion.view.openReport", "minion.view.discard", SHOW_LOG]);
  assert.equal(runItem(nothing, at).description, "failed · 0 files · $0.13");
  assert.deepEqual([runItem(nothing, at).icon, runItem(nothing, at).color], ["error", "list.errorForeground"]);
  // An action this extension does not know yet is left out, not shown as undefined.
  assert.deepEqual(rowCommands(row({ actions: ["minion.later" as never, "minion.discard"] })), [OPEN_DIFF, "minion.view.discard", REVISE, SHOW_LOG]);
});

test("the menus' when-clauses match a command in the context value, and no other", () => {
  const contextValue = runItem(row(), at).contextValue;
  const matches = (command: string) => new RegExp(`(^| )${command.replace(/\./g, "\\.")}( |$)`).test(contextValue);
  assert.equal(matches("minion.view.apply"), true);
  assert.equal(matches("minion.view.cancel"), false);
  assert.equal(matches("minion.view.app"), false);
});

test("a node shows its status, time taken and summary", () => {
  const node: NodeRow = { seq: 2, name: "implement", kind: "agent", status: "ok", summary: "Made add() add.\nMore.", started_at: 10, ended_at: 52.4 };
  const item = nodeItem("1a2b3c", node);
  assert.deepEqual(
    [item.id, item.label, item.description, item.icon, item.collapsible, item.contextValue],
    ["node:1a2b3c:2", "implement", "ok · 42 s · Made add() add.", "check", false, "minionNode"],
  );
  assert.equal(item.tooltip, "implement (agent): ok · 42 s\n\nMade add() add.\nMore.");
  const running = nodeItem("1a2b3c", { ...node, status: "running", summary: "", ended_at: null });
  assert.deepEqual([running.description, running.icon], ["running", "sync~spin"]);
  assert.equal(nodeItem("1a2b3c", { ...node, status: "failed" }).icon, "error");
  assert.equal(nodeItem("1a2b3c", { ...node, summary: "", ended_at: 10.3 }).description, "ok · <1 s");
});

test("a runStatus updates the row's status, rules and progress, and keeps the rest", () => {
  const before = row({ status: "running", ended: false, actions: ["minion.openReport", "minion.cancel"], title: "plan" });
  const after = withStatus(before, status({ status: "ok", ended: true, node: null, actions: ["minion.openReport", "minion.discard"], title: "done · $0.10", cost_usd: 0.1 }));
  assert.equal(after.status, "ok");
  assert.equal(after.ended, true);
  assert.deepEqual(after.actions, ["minion.openReport", "minion.discard"]);
  assert.equal(after.title, "done · $0.10");
  assert.equal(after.cost_usd, 0.1);
  assert.equal(after.task, before.task);
  assert.deepEqual(after.files, before.files);
  assert.equal(after.revises, before.revises);
});

test("the status bar shows the newest active run's title and cancels it on click", () => {
  assert.deepEqual(statusItem([]), { text: "$(hubot) minion", tooltip: "minion: no run is active. Click to show the runs.", cancels: undefined });
  const one = statusItem([status()]);
  assert.equal(one.text, "$(sync~spin) implement · turn 3/60 · 42 s · $0.08");
  assert.equal(one.cancels, "1a2b3c");
  assert.match(one.tooltip, /Click to cancel it\.$/);
  const two = statusItem([status(), status({ id: "9f9f", title: "", node: "plan", status: "running" })]);
  assert.equal(two.text, "$(sync~spin) running · plan (+1)");
  assert.equal(two.cancels, "9f9f");
});
