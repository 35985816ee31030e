// The `minion.delegate` argument (docs/lsp.md, wire.ts) and the TODO hand-off's choices.

import type { Delegation, ExperimentalCapabilities, Range } from "./wire";

export type DelegationKind = NonNullable<Delegation["kind"]>;

/**
 * The palette's delegation of a selection. With the selected text and the document's
 * version the server finds the selection again if the user typed meanwhile.
 */
export function selectionDelegation(uri: string, range: Range, instruction: string, anchor?: { text: string; version: number }): Delegation {
  const delegation: Delegation = { uri, range, kind: "selection", instruction: instruction.trim(), diagnostic: null };
  return anchor ? { ...delegation, text: anchor.text, version: anchor.version } : delegation;
}

/**
 * Whether a `minion.delegate` argument still needs an instruction from the user. Only a
 * selection does: a TODO or a diagnostic says itself what to do.
 */
export function needsInstruction(argument: unknown): argument is Delegation {
  if (typeof argument !== "object" || argument === null) {
    return false;
  }
  const delegation = argument as Partial<Delegation>;
  return (delegation.kind ?? "selection") === "selection" && !delegation.instruction?.trim();
}

/**
 * The lines worth asking the server about for a TODO hand-off: those that carry one of the
 * markers. The server decides which of them are real TODO comments (not strings).
 */
export function todoCandidateLines(text: string, patterns: readonly string[]): number[] {
  const lines: number[] = [];
  text.split(/\r?\n/).forEach((line, index) => {
    if (patterns.some((pattern) => line.includes(pattern))) {
      lines.push(index);
    }
  });
  return lines;
}

/**
 * The TODO markers the server said at initialize (`capabilities.experimental.minion`); none
 * when it said nothing of them.
 */
export function todoPatterns(experimental: unknown): string[] {
  const patterns = (experimental as Partial<ExperimentalCapabilities> | null | undefined)?.minion?.todo_patterns;
  return Array.isArray(patterns) ? patterns.filter((pattern): pattern is string => typeof pattern === "string") : [];
}

interface CommandLike {
  command: string;
  arguments?: unknown[];
}

interface ActionLike {
  title: string;
  command?: CommandLike | string;
  arguments?: unknown[];
}

/**
 * The distinct TODO hand-off commands among code actions (a TODO spanning several lines is
 * offered on each of them), in order.
 */
export function todoHandOffs(actions: readonly ActionLike[]): CommandLike[] {
  const found = new Map<string, CommandLike>();
  for (const action of actions) {
    const command = typeof action.command === "string" ? { command: action.command, arguments: action.arguments } : action.command;
    const argument = command?.arguments?.[0] as Partial<Delegation> | undefined;
    if (command?.command === "minion.delegate" && argument?.kind === "todo" && argument.range) {
      found.set(`${argument.uri}:${argument.range.start.line}`, command);
    }
  }
  return [...found.values()];
}
