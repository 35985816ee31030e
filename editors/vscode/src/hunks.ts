// Per-hunk review in the diff view, apart from VS Code (unit-tested in node): which hunk
// of a run's file a line of either side is in, whether the user's file already has a hunk
// (applied through minion or by hand), and what the diff view shows for it: a CodeLens
// and a line decoration on the head side, a hover with the "Apply this change" link on
// both sides. The glue is hunkReview.ts; the server applies (`minion.applyHunk`).

import type { Side } from "./contract";
import type { FileChange, HunkSpan } from "./wire";

/** The extension's command behind "Apply this change": `[runId, hunkIndex]`, like `minion.applyHunk`. */
export const APPLY_HUNK = "minion.diff.applyHunk";
/** The same for the hunk under the cursor of a `minion-run:` editor (the diff's context menu). */
export const APPLY_HUNK_AT_CURSOR = "minion.diff.applyHunkAtCursor";

export type HunkState = "pending" | "applied";

/** Lines with their endings, split on "\n" only, as git (and the server) count them. */
export function splitLines(text: string): string[] {
  const lines = text.split("\n");
  const out = lines.slice(0, -1).map((line) => line + "\n");
  if (lines[lines.length - 1]) {
    out.push(lines[lines.length - 1]);
  }
  return out;
}

/** Where a hunk starts and how many lines it has on one side. */
export function sideOf(span: HunkSpan, side: Side): { start: number; count: number } {
  return side === "base" ? { start: span.base_start, count: span.base_count } : { start: span.head_start, count: span.head_count };
}

/**
 * The hunk a line of one side is in: a hunk with lines there holds them; a point (a count
 * of 0: nothing of the hunk on that side) is at the line it comes before (the last line
 * when it comes after the end), when no hunk holds that line.
 */
export function hunkAt(spans: readonly HunkSpan[], side: Side, line: number, lineCount: number): HunkSpan | undefined {
  const holding = spans.find((span) => {
    const { start, count } = sideOf(span, side);
    return count > 0 && start <= line && line < start + count;
  });
  return holding ?? spans.find((span) => sideOf(span, side).count === 0 && anchorLine(span, side, lineCount) === line);
}

/** The line of one side where a hunk's lens and decoration go: its first line, clamped to the text. */
export function anchorLine(span: HunkSpan, side: Side, lineCount: number): number {
  return Math.max(0, Math.min(sideOf(span, side).start, lineCount - 1));
}

/** A run of lines two texts have in common: old lines [a, a+n) are new lines [b, b+n). */
export interface Block {
  a: number;
  b: number;
  n: number;
}

const MAX_CELLS = 4_000_000; // beyond that the middle counts as all changed (a hunk is then looked for at its gap)

/**
 * The lines two texts have in common, in order (a longest common subsequence after the
 * common prefix and suffix), as blocks.
 */
export function commonBlocks(old: readonly string[], now: readonly string[]): Block[] {
  let prefix = 0;
  while (prefix < old.length && prefix < now.length && old[prefix] === now[prefix]) {
    prefix++;
  }
  let suffix = 0;
  while (suffix < old.length - prefix && suffix < now.length - prefix && old[old.length - 1 - suffix] === now[now.length - 1 - suffix]) {
    suffix++;
  }
  const pairs: [number, number][] = [];
  for (let i = 0; i < prefix; i++) {
    pairs.push([i, i]);
  }
  const n = old.length - prefix - suffix;
  const m = now.length - prefix - suffix;
  if (n > 0 && m > 0 && (n + 1) * (m + 1) <= MAX_CELLS) {
    const width = m + 1;
    const lengths = new Int32Array((n + 1) * width);
    for (let i = n - 1; i >= 0; i--) {
      for (let j = m - 1; j >= 0; j--) {
        lengths[i * width + j] =
          old[prefix + i] === now[prefix + j] ? lengths[(i + 1) * width + j + 1] + 1 : Math.max(lengths[(i + 1) * width + j], lengths[i * width + j + 1]);
      }
    }
    for (let i = 0, j = 0; i < n && j < m; ) {
      if (old[prefix + i] === now[prefix + j]) {
        pairs.push([prefix + i, prefix + j]);
        i++;
        j++;
      } else if (lengths[(i + 1) * width + j] >= lengths[i * width + j + 1]) {
        i++;
      } else {
        j++;
      }
    }
  }
  for (let k = suffix; k > 0; k--) {
    pairs.push([old.length - k, now.length - k]);
  }
  const blocks: Block[] = [];
  for (const [a, b] of pairs) {
    const last = blocks[blocks.length - 1];
    if (last && last.a + last.n === a && last.b + last.n === b) {
      last.n++;
    } else {
      blocks.push({ a, b, n: 1 });
    }
  }
  return blocks;
}

/**
 * Whether the user's text (undefined: the file does not exist) has the hunk, applied
 * through minion or by hand, whatever else the user changed. A hunk with new lines: the
 * base with just this hunk applied is lined up with the user's text (common lines); the
 * hunk is applied when every new line of it has its counterpart there, in one piece and
 * next to the counterparts of the lines around it (so that an added blank line is not
 * taken for one of the user's). A deletion: its lines with a line of context either side
 * are no longer in the user's text, and those two context lines are, joined. Anything
 * else is pending: the server says whether it still applies.
 */
export function hunkState(span: HunkSpan, base: readonly string[], head: readonly string[], user: readonly string[] | undefined): HunkState {
  const added = head.slice(span.head_start, span.head_start + span.head_count);
  const start = span.base_start;
  const end = start + span.base_count;
  if (user === undefined) {
    return added.length === 0 && span.base_count > 0 && span.base_count === base.length ? "applied" : "pending"; // the run deleted the file
  }
  if (added.length === 0) {
    const removed = base.slice(Math.max(0, start - 1), end + 1);
    const joined = [...base.slice(Math.max(0, start - 1), start), ...base.slice(end, end + 1)];
    return span.base_count > 0 && !contains(user, removed) && (joined.length === 0 ? user.length === 0 : contains(user, joined)) ? "applied" : "pending";
  }
  const withHunk = [...base.slice(0, start), ...added, ...base.slice(end)];
  const counterpart = new Map<number, number>();
  for (const block of commonBlocks(withHunk, user)) {
    for (let k = 0; k < block.n; k++) {
      counterpart.set(block.a + k, block.b + k);
    }
  }
  const first = counterpart.get(start);
  if (first === undefined) {
    return "pending";
  }
  for (let k = 1; k < added.length; k++) {
    if (counterpart.get(start + k) !== first + k) {
      return "pending";
    }
  }
  const before = counterpart.get(start - 1);
  const after = counterpart.get(start + added.length);
  const anchored = (before === undefined || before === first - 1) && (after === undefined || after === first + added.length);
  return anchored ? "applied" : "pending";
}

/** Whether ``lines`` occur in ``text``, together and in order. */
function contains(text: readonly string[], lines: readonly string[]): boolean {
  for (let at = 0; at + lines.length <= text.length; at++) {
    if (lines.every((line, k) => text[at + k] === line)) {
      return true;
    }
  }
  return false;
}

/** A file's hunks, ordered, with their states against the user's text. */
export function fileHunkStates(file: FileChange, baseText: string | null, headText: string | null, userText: string | undefined): { span: HunkSpan; state: HunkState }[] {
  const base = splitLines(baseText ?? "");
  const head = splitLines(headText ?? "");
  const user = userText === undefined ? undefined : splitLines(userText);
  return (file.hunks ?? []).map((span) => ({ span, state: hunkState(span, base, head, user) }));
}

/** What a hunk of n changes in a file says it does, as the hover's first line does. */
export function hunkLabel(span: HunkSpan, position: number, total: number): string {
  const what =
    span.base_count === 0
      ? `adds ${plural(span.head_count, "line")}`
      : span.head_count === 0
        ? `removes ${plural(span.base_count, "line")}`
        : `replaces ${plural(span.base_count, "line")} with ${span.head_count}`;
  return `change ${position} of ${total}: ${what}`;
}

function plural(n: number, word: string): string {
  return n === 1 ? `1 ${word}` : `${n} ${word}s`;
}

/** A CodeLens as plain data (hunkReview.ts makes the vscode.CodeLens). */
export interface LensSpec {
  line: number;
  title: string;
  command: string;
  arguments: unknown[];
  tooltip: string;
}

/**
 * The lenses of one side of a run's file: "Apply this change" on each pending hunk, a
 * check mark on each applied one (it opens the user's file).
 */
export function hunkLenses(runId: string, path: string, states: { span: HunkSpan; state: HunkState }[], side: Side, lineCount: number, fileUri: unknown): LensSpec[] {
  return states.map(({ span, state }, k) => {
    const line = anchorLine(span, side, lineCount);
    const label = hunkLabel(span, k + 1, states.length);
    return state === "applied"
      ? { line, title: "$(check) Applied", command: "vscode.open", arguments: [fileUri], tooltip: `minion ${runId}, ${label}: your ${path} has it` }
      : { line, title: "$(check) Apply this change", command: APPLY_HUNK, arguments: [runId, span.index], tooltip: `minion ${runId}, ${label}: apply it to your ${path}` };
  });
}

/** The markdown of a hunk's hover: what it does and its Apply link (a command URI), or that it is applied. */
export function hunkHover(runId: string, path: string, span: HunkSpan, position: number, total: number, state: HunkState): string {
  const label = hunkLabel(span, position, total);
  if (state === "applied") {
    return `**minion ${runId}**, ${label}\n\n$(check) Applied: your \`${path}\` has this change.`;
  }
  const args = encodeURIComponent(JSON.stringify([runId, span.index]));
  return `**minion ${runId}**, ${label}\n\n[$(check) Apply this change](command:${APPLY_HUNK}?${args} "Apply this change to your ${path}") to your \`${path}\``;
}

/** The text after a hunk's first line on the head side of the diff. */
export function hunkDecoration(state: HunkState): string {
  return state === "applied" ? "  ✓ applied" : "  ◇ minion: hover or right-click to apply";
}

/** What the user hears after "Apply this change". */
export function applyMessage(result: { applied: number; skipped: number; failureReason?: string | null } | undefined, path: string): { text: string; warn: boolean } | undefined {
  if (!result) {
    return undefined; // the server said why
  }
  if (result.applied > 0) {
    return { text: `minion: applied the change to ${path}`, warn: false };
  }
  if (result.failureReason) {
    return { text: `minion: the change was not applied to ${path}: ${result.failureReason}`, warn: true };
  }
  return { text: `minion: the change was not applied: ${path} no longer has the lines it changes there (applied already, or edited since the run).`, warn: true };
}
