import * as assert from "node:assert/strict";
import { test } from "node:test";
import { initializationOptions, serverSettings } from "../src/settings";

test("settings map to the config file's keys; client-only and unset ones stay behind", () => {
  const section = {
    python: "/opt/venv/bin/python",
    projectPython: "~/app/.venv",
    trace: { server: "verbose" },
    model: "scripted:/tmp/turns.json",
    blueprint: "",
    checks: {},
    maxCostUsd: 0.5,
    maxTurns: null,
    maxWallSeconds: 600,
    maxConcurrentRuns: 3,
    todoPatterns: ["FIXME(minion)"],
  };
  assert.deepEqual(serverSettings(section), {
    model: "scripted:/tmp/turns.json",
    checks: {},
    max_cost_usd: 0.5,
    max_wall_seconds: 600,
    max_concurrent_runs: 3,
    todo_patterns: ["FIXME(minion)"],
  });
});

test("no section, no settings", () => {
  assert.deepEqual(serverSettings(undefined), {});
  assert.deepEqual(serverSettings(null), {});
});

test("initializationOptions carry the settings and ask to prompt client-side", () => {
  assert.deepEqual(initializationOptions({ model: "anthropic:m", python: "python3" }), {
    settings: { model: "anthropic:m" },
    promptForInstruction: true,
  });
});

test("the project's Python goes as `python`, apart from minion.python (the server's own)", () => {
  const section = { python: "/opt/minion/bin/python", projectPython: "${workspaceFolder}/.venv" };
  assert.deepEqual(serverSettings(section, "/work/app/.venv/bin/python"), { python: "/work/app/.venv/bin/python" });
  assert.deepEqual(serverSettings(section, undefined), {});
  assert.deepEqual(initializationOptions({ model: "anthropic:m" }, "/envs/app/bin/python").settings, {
    model: "anthropic:m",
    python: "/envs/app/bin/python",
  });
});
