// Review as a diff, apart from VS Code (unit-tested in node): the `minion-run:` URIs of a
// run's files on either side, and opening them in the native multi-file diff editor
// (`vscode.changes`), else one `vscode.diff` per file on a VS Code without it.

import type { Side } from "./contract";
import type { RunFiles } from "./wire";

export const SCHEME = "minion-run";

/** A URI as its parts (vscode.Uri.from takes them). */
export interface UriParts {
  scheme: string;
  path: string;
  query: string;
}

export interface RunFileRef {
  runId: string;
  path: string; // repo-relative, with forward slashes
  side: Side;
}

/**
 * The URI of a run's file on one side: `minion-run:/calc/ops.py?run=1a2b&side=head`. The
 * path keeps the file's name and extension (the editor picks the language by them).
 */
export function runFileUri(ref: RunFileRef): UriParts {
  const query = new URLSearchParams({ run: ref.runId, side: ref.side }).toString();
  return { scheme: SCHEME, path: "/" + ref.path.replace(/^\/+/, ""), query };
}

/** The run, path and side a `minion-run:` URI names; undefined for any other URI. */
export function parseRunFileUri(uri: UriParts): RunFileRef | undefined {
  if (uri.scheme !== SCHEME) {
    return undefined;
  }
  const query = new URLSearchParams(uri.query);
  const runId = query.get("run");
  const side = query.get("side");
  if (!runId || (side !== "base" && side !== "head")) {
    return undefined;
  }
  return { runId, path: uri.path.replace(/^\/+/, ""), side };
}

/** One file of the multi-file diff: the workspace file it is about, and its two sides. */
export interface DiffEntry<U> {
  label: U;
  base: U;
  head: U;
  path: string;
}

/**
 * The entries of a run's diff: the base side is the file's old path for a rename; an added
 * file's base and a deleted file's head are served empty by the provider (fileAt says null).
 */
export function diffEntries<U>(runId: string, files: RunFiles["files"], workspaceFile: (path: string) => U, toUri: (parts: UriParts) => U): DiffEntry<U>[] {
  return files.map((file) => ({
    label: workspaceFile(file.path),
    base: toUri(runFileUri({ runId, path: file.change === "renamed" && file.old_path ? file.old_path : file.path, side: "base" })),
    head: toUri(runFileUri({ runId, path: file.path, side: "head" })),
    path: file.path,
  }));
}

export interface Commands {
  execute(command: string, ...args: unknown[]): Thenable<unknown>;
  /** The commands known (vscode.commands.getCommands). */
  all(): Thenable<string[]>;
}

/**
 * Open the run's change: `vscode.changes` (title, [label, base, head] triples) where the
 * editor has it, else `vscode.diff` per file. Returns which way it went.
 */
export async function openDiff<U>(commands: Commands, title: string, entries: DiffEntry<U>[]): Promise<"changes" | "diff" | "none"> {
  if (entries.length === 0) {
    return "none";
  }
  if ((await commands.all()).includes("vscode.changes")) {
    try {
      await commands.execute("vscode.changes", title, entries.map((entry) => [entry.label, entry.base, entry.head]));
      return "changes";
    } catch {
      // an older editor that lists it but refuses the arguments: one diff per file
    }
  }
  for (const entry of entries) {
    await commands.execute("vscode.diff", entry.base, entry.head, `${entry.path} (${title})`, { preview: entries.length === 1 });
  }
  return "diff";
}

/** The title of a run's diff editor. */
export function diffTitle(runId: string, task: string): string {
  const line = task.split("\n")[0].trim();
  return `minion ${runId}: ${line.length > 50 ? line.slice(0, 49) + "…" : line}`;
}

/** Whether a `window/showDocument` target is a run report to show rendered. */
export function isReport(uri: string, external: boolean | undefined): boolean {
  return !external && uri.startsWith("file:") && uri.toLowerCase().endsWith(".md");
}
