// How runs (`minion.runs` rows) are shown and what can be done with each. What a run
// offers, and whether it is still working, is the server's to say (the row's `actions` and
// `ended`, wire.ts): this file only chooses the words and icons.

import { RunAction, RunRow } from "./wire";

export type { RunRow };

const ICONS: Record<string, string> = {
  queued: "$(clock)",
  running: "$(sync~spin)",
  ok: "$(pass)",
  failed_checks: "$(warning)",
  cancelled: "$(circle-slash)",
};

// The label of each action a run may offer (a new action fails to compile until it has one).
const ACTION_LABELS: Record<RunAction, string> = {
  "minion.openReport": "$(book) Open report",
  "minion.cancel": "$(stop) Cancel run",
  "minion.apply": "$(check-all) Apply all changes",
  "minion.resume": "$(debug-continue) Resume run",
  "minion.discard": "$(trash) Discard run",
};

export function isActive(run: RunRow): boolean {
  return !run.ended;
}

/** A moment (seconds since the epoch, as the server sends it) as local date and time: "2026-11-21 10:00". */
export function localTime(epochSeconds: number): string {
  const at = new Date(epochSeconds * 1000);
  const two = (n: number) => String(n).padStart(2, "0");
  return `${at.getFullYear()}-${two(at.getMonth() + 1)}-${two(at.getDate())} ${two(at.getHours())}:${two(at.getMinutes())}`;
}

export function describeRun(run: RunRow): { label: string; description: string; detail: string } {
  const task = run.task.split("\n")[0].trim();
  const checks = run.checks_ok === null ? "no checks" : run.checks_ok ? "checks passed" : "checks failed";
  const files = run.files.length === 1 ? "1 file" : `${run.files.length} files`;
  return {
    label: `${ICONS[run.status] ?? "$(error)"} ${task.length > 70 ? task.slice(0, 69) + "…" : task}`,
    description: `${run.status} · $${run.cost_usd.toFixed(2)} · ${run.branch ?? "no branch"}`,
    detail: `${run.id} · ${localTime(run.created_at)} · ${files} · ${checks}`,
  };
}

export interface RunActionItem {
  label: string;
  command: RunAction; // a server command (docs/lsp.md)
  arguments: unknown[];
}

/** The actions the server offers for the run, in its order. */
export function runActions(run: RunRow): RunActionItem[] {
  return run.actions.map((command) => ({ label: ACTION_LABELS[command] ?? command, command, arguments: [run.id] }));
}
