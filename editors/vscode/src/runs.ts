// How runs (`minion.runs` rows) are shown and what can be done with each.

export interface RunRow {
  id: string;
  status: string;
  task: string;
  branch: string | null;
  files: string[];
  cost_usd: number;
  checks_ok: boolean | null;
  created_at: string;
  report_uri: string | null;
}

const ACTIVE = new Set(["queued", "running"]);
// Interrupted runs that minion.resume continues at their first unfinished node.
const RESUMABLE = new Set(["lost", "cancelled", "stuck", "capped_turns", "capped_tokens", "capped_cost", "capped_time"]);

const ICONS: Record<string, string> = {
  queued: "$(clock)",
  running: "$(sync~spin)",
  ok: "$(pass)",
  failed_checks: "$(warning)",
  cancelled: "$(circle-slash)",
};

export function isActive(run: RunRow): boolean {
  return ACTIVE.has(run.status);
}

export function describeRun(run: RunRow): { label: string; description: string; detail: string } {
  const task = run.task.split("\n")[0].trim();
  const checks = run.checks_ok === null ? "no checks" : run.checks_ok ? "checks passed" : "checks failed";
  const files = run.files.length === 1 ? "1 file" : `${run.files.length} files`;
  return {
    label: `${ICONS[run.status] ?? "$(error)"} ${task.length > 70 ? task.slice(0, 69) + "…" : task}`,
    description: `${run.status} · $${run.cost_usd.toFixed(2)} · ${run.branch ?? "no branch"}`,
    detail: `${run.id} · ${run.created_at} · ${files} · ${checks}`,
  };
}

export interface RunAction {
  label: string;
  command: string; // a server command (docs/lsp.md)
  arguments: unknown[];
}

export function runActions(run: RunRow): RunAction[] {
  const actions: RunAction[] = [{ label: "$(book) Open report", command: "minion.openReport", arguments: [run.id] }];
  if (isActive(run)) {
    actions.push({ label: "$(stop) Cancel run", command: "minion.cancel", arguments: [run.id] });
    return actions;
  }
  if (run.files.length > 0) {
    actions.push({ label: "$(check-all) Apply all changes", command: "minion.apply", arguments: [run.id] });
  }
  if (RESUMABLE.has(run.status)) {
    actions.push({ label: "$(debug-continue) Resume run", command: "minion.resume", arguments: [run.id] });
  }
  actions.push({ label: "$(trash) Discard run", command: "minion.discard", arguments: [run.id] });
  return actions;
}

export function statusBarText(active: number): string {
  return active > 0 ? `$(sync~spin) minion: ${active}` : "$(hubot) minion";
}
