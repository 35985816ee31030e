// Issue 15's payloads as this extension uses them: all from wire.ts (generated from the
// server's models), plus the one check the wire cannot say.

import type { DuplicateRun } from "./wire";

export type { DuplicateRun, FileChange, FileText, NodeRow, RunFiles, RunLog, RunRow, RunStatus } from "./wire";

export type Side = "base" | "head";

/** Whether `minion.delegate` answered that the anchor already has a run (and started nothing). */
export function isDuplicate(result: unknown): result is DuplicateRun {
  return typeof result === "object" && result !== null && typeof (result as DuplicateRun).duplicateOf === "string";
}
