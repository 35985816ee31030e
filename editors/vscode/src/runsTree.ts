// The runs view (its own activity-bar container, package.json): this workspace's runs
// (`minion.runs`, scope workspace), refreshed on `minion/runStatus`; a run expands to its
// blueprint's nodes (`minion.runNodes`). What each item shows is runsView.ts's.

import * as vscode from "vscode";
import type { NodeRow, RunRow, RunStatus } from "./wire";
import { ItemSpec, nodeItem, runItem, withStatus } from "./runsView";
import { localTime } from "./runs";

export type RunElement = { kind: "run"; run: RunRow };
export type Element = RunElement | { kind: "node"; runId: string; node: NodeRow } | { kind: "note"; text: string };

export interface RunSource {
  runs(): Promise<RunRow[] | undefined>;
  nodes(runId: string): Promise<NodeRow[] | undefined>;
}

export class RunsTree implements vscode.TreeDataProvider<Element>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<Element | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private rows: RunElement[] | undefined;
  private refreshTimer: NodeJS.Timeout | undefined;
  private loading: Promise<void> | undefined;

  constructor(private readonly source: RunSource) {}

  /** The rows as last fetched (newest first). */
  get runs(): RunRow[] {
    return (this.rows ?? []).map((element) => element.run);
  }

  find(runId: string): RunElement | undefined {
    return this.rows?.find((element) => element.run.id === runId || element.run.id.startsWith(runId));
  }

  /** Fetch the rows again, now. */
  refresh(): Promise<void> {
    this.loading ??= (async () => {
      try {
        const runs = await this.source.runs();
        if (runs) {
          this.rows = runs.map((run) => ({ kind: "run", run }));
          this.changed.fire(undefined);
        }
      } finally {
        this.loading = undefined;
      }
    })();
    return this.loading;
  }

  /** Fetch the rows again soon (several notifications at once make one request). */
  refreshSoon(ms = 300): void {
    clearTimeout(this.refreshTimer);
    this.refreshTimer = setTimeout(() => void this.refresh(), ms);
  }

  /** A run's status changed: show it at once, then fetch the rows (files, cost, a new run). */
  runStatus(status: RunStatus): void {
    const element = this.find(status.id);
    if (element) {
      element.run = withStatus(element.run, status);
      this.changed.fire(element);
    }
    this.refreshSoon(element && !status.ended ? 1_000 : 300);
  }

  getTreeItem(element: Element): vscode.TreeItem {
    if (element.kind === "note") {
      return new vscode.TreeItem(element.text);
    }
    const spec = element.kind === "run" ? runItem(element.run, localTime) : nodeItem(element.runId, element.node);
    return treeItem(spec, element.kind === "run" && !element.run.ended);
  }

  async getChildren(element?: Element): Promise<Element[]> {
    if (!element) {
      if (!this.rows) {
        await this.refresh();
      }
      return this.rows ?? [];
    }
    if (element.kind !== "run") {
      return [];
    }
    const nodes = await this.source.nodes(element.run.id);
    if (!nodes || nodes.length === 0) {
      return [{ kind: "note", text: element.run.ended ? "no nodes recorded" : "starting…" }];
    }
    return nodes.map((node) => ({ kind: "node", runId: element.run.id, node }));
  }

  getParent(element: Element): Element | undefined {
    return element.kind === "node" ? this.find(element.runId) : undefined;
  }

  dispose(): void {
    clearTimeout(this.refreshTimer);
    this.changed.dispose();
  }
}

function treeItem(spec: ItemSpec, expanded: boolean): vscode.TreeItem {
  const state = !spec.collapsible
    ? vscode.TreeItemCollapsibleState.None
    : expanded
      ? vscode.TreeItemCollapsibleState.Expanded
      : vscode.TreeItemCollapsibleState.Collapsed;
  const item = new vscode.TreeItem(spec.label, state);
  item.id = spec.id;
  item.description = spec.description;
  item.tooltip = spec.tooltip;
  item.iconPath = new vscode.ThemeIcon(spec.icon, spec.color ? new vscode.ThemeColor(spec.color) : undefined);
  item.contextValue = spec.contextValue;
  return item;
}
