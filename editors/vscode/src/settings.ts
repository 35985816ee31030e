// The editor's settings as the server reads them (docs/lsp.md: initializationOptions and
// workspace/configuration section "minion"). The server rejects unknown keys, so only the
// keys below are passed on, and `python`, which is resolved apart (a path, or the Python
// extension's choice); a setting left empty or null means "from the config files".

import type { InitializationOptions } from "./wire";

/** VS Code setting (under `minion.`) -> the config file's key. */
export const SERVER_KEYS: Readonly<Record<string, string>> = {
  model: "model",
  blueprint: "blueprint",
  checks: "checks",
  maxCostUsd: "max_cost_usd",
  maxTurns: "max_turns",
  maxWallSeconds: "max_wall_seconds",
  maxConcurrentRuns: "max_concurrent_runs",
  todoPatterns: "todo_patterns",
};

/**
 * The settings to send for a `minion` configuration section, and `python`: the project's
 * interpreter (`findProjectPython`, from `minion.projectPython` or the Python extension).
 */
export function serverSettings(section: Record<string, unknown> | null | undefined, python?: string): Record<string, unknown> {
  const settings: Record<string, unknown> = {};
  for (const [key, serverKey] of Object.entries(SERVER_KEYS)) {
    const value = section?.[key];
    if (value !== undefined && value !== null && value !== "") {
      settings[serverKey] = value;
    }
  }
  if (python) {
    settings.python = python;
  }
  return settings;
}

export function initializationOptions(
  section: Record<string, unknown> | undefined,
  python?: string,
): Required<InitializationOptions> {
  // The extension prompts for the instruction of "Delegate to minion…" itself.
  return { settings: serverSettings(section, python), promptForInstruction: true };
}
