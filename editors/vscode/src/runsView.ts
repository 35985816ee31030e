// The runs view's logic, apart from VS Code (unit-tested in node): what each row and node
// of the tree shows and which commands each offers. The glue is runsTree.ts. What a run
// offers is the server's to say (the row's `actions`); this file adds the editor's own
// two, revise and open diff, and picks words and icons.

import type { NodeRow, RunAction, RunRow, RunStatus } from "./wire";

/** A tree item, as plain data: runsTree.ts turns it into a vscode.TreeItem. */
export interface ItemSpec {
  id: string;
  label: string;
  description: string;
  tooltip: string;
  /** A codicon id (ThemeIcon), e.g. "sync~spin". */
  icon: string;
  /** A theme color id for the icon, if any. */
  color?: string;
  /** What the view's menus match (`viewItem =~ /\bminion.view.apply\b/`). */
  contextValue: string;
  collapsible: boolean;
}

/** The view's own command for each server action: it takes the tree element, not the id. */
export const VIEW_COMMANDS: Record<RunAction, string> = {
  "minion.openReport": "minion.view.openReport",
  "minion.cancel": "minion.view.cancel",
  "minion.apply": "minion.view.apply",
  "minion.resume": "minion.view.resume",
  "minion.discard": "minion.view.discard",
};
export const REVISE = "minion.view.revise";
export const OPEN_DIFF = "minion.view.openDiff";
export const SHOW_LOG = "minion.view.showLog";

const ICONS: Record<string, [string, string?]> = {
  queued: ["clock"],
  running: ["sync~spin"],
  ok: ["pass", "testing.iconPassed"],
  failed_checks: ["warning", "list.warningForeground"],
  cancelled: ["circle-slash"],
  lost: ["debug-disconnect", "list.warningForeground"],
};
const FAILED: [string, string] = ["error", "list.errorForeground"];

const NODE_ICONS: Record<string, [string, string?]> = {
  running: ["sync~spin"],
  ok: ["check", "testing.iconPassed"],
  done: ["check", "testing.iconPassed"],
  skipped: ["debug-step-over"],
  pending: ["circle-outline"],
};

function firstLine(text: string, width: number): string {
  const line = text.split("\n")[0].trim();
  return line.length > width ? line.slice(0, width - 1) + "…" : line;
}

function plural(n: number, word: string): string {
  return n === 1 ? `1 ${word}` : `${n} ${word}s`;
}

/** Whether the run has a change to look at: a branch with files. */
export function hasChange(run: RunRow): boolean {
  return run.branch != null && run.files.length > 0;
}

/** Whether "revise" makes sense: the run ended and left a branch to build on. */
export function canRevise(run: RunRow): boolean {
  return run.ended && run.branch != null;
}

/** The view's commands for a run, in the order of its menu: diff first, the server's actions, then revise and the log. */
export function rowCommands(run: RunRow): string[] {
  const commands: string[] = [];
  if (hasChange(run)) {
    commands.push(OPEN_DIFF);
  }
  commands.push(...run.actions.map((action) => VIEW_COMMANDS[action]).filter((command) => command !== undefined));
  if (canRevise(run)) {
    commands.push(REVISE);
  }
  commands.push(SHOW_LOG);
  return commands;
}

/** The line under the task: the live title while it works, else how it ended. */
export function runDescription(run: RunRow): string {
  if (!run.ended) {
    return run.title || run.node || run.status;
  }
  const checks = run.checks_ok === null ? "" : run.checks_ok ? " · checks passed" : " · checks failed";
  return `${run.status} · ${plural(run.files.length, "file")} · $${run.cost_usd.toFixed(2)}${checks}`;
}

export function runItem(run: RunRow, localTime: (epochSeconds: number) => string): ItemSpec {
  const [icon, color] = ICONS[run.status] ?? FAILED;
  const tooltip = [
    run.task.trim(),
    "",
    `run ${run.id} · ${run.status}${run.revises ? ` · revises ${run.revises}` : ""}`,
    `branch: ${run.branch ?? "none"}`,
    `started ${localTime(run.created_at)}`,
    run.files.length > 0 ? `files: ${run.files.join(", ")}` : "no files changed",
  ];
  if (run.title && !run.ended) {
    tooltip.push(run.title);
  }
  return {
    id: `run:${run.id}`,
    label: firstLine(run.task, 80),
    description: runDescription(run),
    tooltip: tooltip.join("\n"),
    icon,
    color,
    contextValue: ["minionRun", ...rowCommands(run)].join(" "),
    collapsible: true,
  };
}

export function nodeItem(runId: string, node: NodeRow): ItemSpec {
  const [icon, color] = NODE_ICONS[node.status] ?? (node.status.startsWith("fail") || node.status === "error" ? FAILED : ["circle-filled"]);
  const took = node.started_at != null && node.ended_at != null ? node.ended_at - node.started_at : undefined;
  const seconds = took === undefined ? "" : ` · ${took < 1 ? "<1" : Math.round(took)} s`;
  const summary = node.summary?.trim() ?? "";
  return {
    id: `node:${runId}:${node.seq}`,
    label: node.name,
    description: `${node.status}${seconds}${summary ? " · " + firstLine(summary, 100) : ""}`,
    tooltip: [`${node.name} (${node.kind}): ${node.status}${seconds}`, summary].filter(Boolean).join("\n\n"),
    icon,
    color,
    contextValue: "minionNode",
    collapsible: false,
  };
}

/** A row with a newer runStatus folded in (the notification says what changed; the rest stays). */
export function withStatus(run: RunRow, status: RunStatus): RunRow {
  const { status: now, branch, actions, resumable, ended, node, title, turns, max_turns, elapsed_s, cost_usd, repo } = status;
  return { ...run, status: now, branch, actions, resumable, ended, node, title, turns, max_turns, elapsed_s, cost_usd, repo };
}

/** The status bar: the newest active run's title (cancel on click), else the idle item. */
export function statusItem(active: readonly RunStatus[]): { text: string; tooltip: string; cancels: string | undefined } {
  const newest = active[active.length - 1];
  if (!newest) {
    return { text: "$(hubot) minion", tooltip: "minion: no run is active. Click to show the runs.", cancels: undefined };
  }
  const more = active.length > 1 ? ` (+${active.length - 1})` : "";
  const title = newest.title || [newest.status, newest.node].filter(Boolean).join(" · ");
  return {
    text: `$(sync~spin) ${title}${more}`,
    tooltip: `minion run ${newest.id}: ${title}${more ? `\n${active.length} runs active` : ""}\nClick to cancel it.`,
    cancels: newest.id,
  };
}
