// What changes while runs work, apart from VS Code (unit-tested in node): the end-of-run
// toasts, collapsed when several come at once, and a run's live log.

import type { RunLog } from "./wire";

export interface Timers {
  set(callback: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

const NODE_TIMERS: Timers = { set: (callback, ms) => setTimeout(callback, ms), clear: (handle) => clearTimeout(handle as NodeJS.Timeout) };

export const SHOW_RUNS = "Show runs";

/** How a toast is shown: as the server's MessageType says (Error 1, Warning 2, else information). */
export type Severity = "error" | "warning" | "info";

export function severityOf(messageType: number): Severity {
  return messageType === 1 ? "error" : messageType === 2 ? "warning" : "info";
}

interface Pending {
  message: string;
  actions: string[];
  severity: Severity;
  resolve(choice: string | undefined): void;
}

/**
 * The end-of-run toasts (`window/showMessageRequest`): those that come within `quietMs` of
 * each other are one batch. A batch of one is shown as the server said it, and answered
 * with the user's pick; a bigger one becomes "N runs ended" with "Show runs", and each of
 * its requests is answered with no pick (the actions are in the runs view).
 */
export class ToastBatcher {
  private pending: Pending[] = [];
  private timer: unknown;

  constructor(
    private readonly show: (message: string, actions: string[], severity: Severity) => PromiseLike<string | undefined>,
    private readonly showRuns: () => void,
    private readonly quietMs = 1500,
    private readonly timers: Timers = NODE_TIMERS,
  ) {}

  push(message: string, actions: string[], severity: Severity = "info"): Promise<string | undefined> {
    return new Promise((resolve) => {
      this.pending.push({ message, actions, severity, resolve });
      if (this.timer !== undefined) {
        this.timers.clear(this.timer);
      }
      this.timer = this.timers.set(() => void this.flush(), this.quietMs);
    });
  }

  private async flush(): Promise<void> {
    const batch = this.pending;
    this.pending = [];
    this.timer = undefined;
    if (batch.length === 1) {
      const [only] = batch;
      only.resolve(await this.show(only.message, only.actions, only.severity));
      return;
    }
    batch.forEach((request) => request.resolve(undefined));
    // The gravest of them says how it is shown: one failed run among three is a warning.
    const severity = (["error", "warning"] as const).find((grave) => batch.some((request) => request.severity === grave)) ?? "info";
    if ((await this.show(collapsedMessage(batch.length), [SHOW_RUNS], severity)) === SHOW_RUNS) {
      this.showRuns();
    }
  }
}

export function collapsedMessage(count: number): string {
  return `minion: ${count} runs ended.`;
}

/** A log line as the output channel shows it: local time, then the event. */
export function logLine(line: RunLog["lines"][number]): string {
  const at = new Date(line.ts * 1000);
  const two = (n: number) => String(n).padStart(2, "0");
  return `${two(at.getHours())}:${two(at.getMinutes())}:${two(at.getSeconds())} ${line.text}`;
}

/**
 * A run's log, followed from where it was last read (`minion.runLog`'s `next`). One poll
 * at a time: a poll asked for while one is under way is skipped.
 */
export class LogFollower {
  private next = 0;
  private busy = false;

  constructor(
    private readonly fetch: (after: number) => PromiseLike<RunLog | undefined>,
    private readonly append: (text: string) => void,
  ) {}

  /** Read what is new; how many lines it added (0 when busy or the server said nothing). */
  async poll(): Promise<number> {
    if (this.busy) {
      return 0;
    }
    this.busy = true;
    try {
      const log = await this.fetch(this.next);
      if (!log) {
        return 0;
      }
      log.lines.forEach((line) => this.append(logLine(line)));
      this.next = Math.max(this.next, log.next);
      return log.lines.length;
    } finally {
      this.busy = false;
    }
  }
}
