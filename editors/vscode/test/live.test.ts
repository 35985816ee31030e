import * as assert from "node:assert/strict";
import { test } from "node:test";

process.env.TZ = "Asia/Kolkata"; // +05:30: log lines show local time

import type { RunLog } from "../src/contract";
import { LogFollower, SHOW_RUNS, Severity, Timers, ToastBatcher, logLine, severityOf } from "../src/live";

/** Timers run by hand: `fire()` runs the pending one. */
function manualTimers(): Timers & { fire(): void; pending(): number } {
  let next: (() => void) | undefined;
  return {
    set: (callback) => {
      next = callback;
      return callback;
    },
    clear: (handle) => {
      if (handle === next) {
        next = undefined;
      }
    },
    fire: () => {
      const callback = next;
      next = undefined;
      callback?.();
    },
    pending: () => (next ? 1 : 0),
  };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

test("one run's end is its own toast, answered with the user's pick", async () => {
  const timers = manualTimers();
  const shown: [string, string[], Severity][] = [];
  const batcher = new ToastBatcher(async (message, actions, severity) => (shown.push([message, actions, severity]), "Apply all"), () => assert.fail("no Show runs"), 1500, timers);
  const answer = batcher.push("minion run 1a2b ok: Fixed it.", ["Open", "Apply all", "Dismiss"], "warning");
  assert.deepEqual(shown, []); // not before the quiet time
  timers.fire();
  assert.equal(await answer, "Apply all");
  assert.deepEqual(shown, [["minion run 1a2b ok: Fixed it.", ["Open", "Apply all", "Dismiss"], "warning"]]);
});

test("runs that end together collapse into one toast whose Show runs opens the view", async () => {
  const timers = manualTimers();
  const shown: [string, string[], Severity][] = [];
  let showRuns = 0;
  const batcher = new ToastBatcher(async (message, actions, severity) => (shown.push([message, actions, severity]), SHOW_RUNS), () => showRuns++, 1500, timers);
  const answers = [batcher.push("run a ended", ["Open"]), batcher.push("run b failed", ["Open"], "warning"), batcher.push("run c ended", ["Open"])];
  assert.equal(timers.pending(), 1); // each push restarts the one quiet timer
  timers.fire();
  assert.deepEqual(await Promise.all(answers), [undefined, undefined, undefined]); // the server hears "no pick"
  await tick();
  assert.deepEqual(shown, [["minion: 3 runs ended.", [SHOW_RUNS], "warning"]]); // the gravest of them
  assert.equal(showRuns, 1);
  // The next end, later, is a toast of its own again.
  const later = batcher.push("run d ended", ["Open"]);
  timers.fire();
  assert.equal(await later, SHOW_RUNS);
  assert.deepEqual(shown[1], ["run d ended", ["Open"], "info"]);
});

test("a toast's severity is the server's message type", () => {
  assert.deepEqual([1, 2, 3, 4].map(severityOf), ["error", "warning", "info", "info"]);
});

test("a log line is the event's local time and text", () => {
  assert.equal(logLine({ ts: Date.UTC(2026, 10, 21, 10, 0, 5) / 1000 + 0.4, text: "turn 1: bash ls" }), "15:30:05 turn 1: bash ls");
});

test("the live log reads on from where it stopped, one poll at a time", async () => {
  const asked: number[] = [];
  const appended: string[] = [];
  let release: (() => void) | undefined;
  const pages: RunLog[] = [
    { lines: [{ ts: 0, text: "start" }, { ts: 1, text: "node plan" }], next: 2 },
    { lines: [], next: 2 },
    { lines: [{ ts: 2, text: "turn 1" }], next: 3 },
  ];
  const follower = new LogFollower(
    async (after) => {
      asked.push(after);
      await new Promise<void>((resolve) => (release = resolve));
      return pages.shift();
    },
    (text) => appended.push(text.replace(/^\S+ /, "")),
  );
  const first = follower.poll();
  assert.equal(await follower.poll(), 0); // skipped: the first is under way
  release?.();
  assert.equal(await first, 2);
  for (const expected of [0, 1]) {
    const poll = follower.poll();
    await tick();
    release?.();
    assert.equal(await poll, expected);
  }
  assert.deepEqual(asked, [0, 2, 2]);
  assert.deepEqual(appended, ["start", "node plan", "turn 1"]);
  // A server that answers nothing (not running, an error) adds nothing and keeps the place.
  const silent = new LogFollower(async () => undefined, () => assert.fail("nothing to add"));
  assert.equal(await silent.poll(), 0);
});
