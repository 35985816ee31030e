// Which Python runs the server and whether minion is installed in it, and which Python is
// the project's (the server runs the checks with it).

import { execFile } from "child_process";

/** The part of the Python extension's API (ms-python.python) used here. */
export interface PythonEnvironments {
  getActiveEnvironmentPath(resource?: unknown): { path: string };
  resolveEnvironment(environment: { path: string }): Promise<{ executable: { uri?: { fsPath: string } } } | undefined>;
  onDidChangeActiveEnvironmentPath(listener: () => void): { dispose(): void };
}

export type InterpreterSource = "minion.python" | "Python extension" | "default";

export interface Interpreter {
  python: string;
  source: InterpreterSource;
}

export const DEFAULT_PYTHON = "python3";

/** Where settings' paths are expanded, and the resource whose Python the Python extension gives. */
export interface PathContext {
  workspaceFolder?: string;
  home: string;
  resource?: unknown;
}

/**
 * The `minion.python` setting, else the Python extension's active interpreter for the
 * resource, else `python3`.
 */
export async function findInterpreter(
  configured: string,
  pythonEnvironments: () => Promise<PythonEnvironments | undefined>,
  context: PathContext,
): Promise<Interpreter> {
  if (configured.trim()) {
    return { python: expandPath(configured.trim(), context.workspaceFolder, context.home), source: "minion.python" };
  }
  const python = await activeInterpreter(await pythonEnvironments(), context.resource);
  return python ? { python, source: "Python extension" } : { python: DEFAULT_PYTHON, source: "default" };
}

/**
 * The project's interpreter, sent as the server's `python` setting (the checks run with it):
 * the `minion.projectPython` setting, else the Python extension's active interpreter for the
 * workspace folder; undefined leaves it to the server to find.
 */
export async function findProjectPython(
  configured: string,
  pythonEnvironments: () => Promise<PythonEnvironments | undefined>,
  context: PathContext,
): Promise<string | undefined> {
  if (configured.trim()) {
    return expandPath(configured.trim(), context.workspaceFolder, context.home);
  }
  return activeInterpreter(await pythonEnvironments(), context.resource);
}

/** The Python extension's active environment for the resource, resolved to its executable. */
async function activeInterpreter(environments: PythonEnvironments | undefined, resource: unknown): Promise<string | undefined> {
  if (!environments) {
    return undefined;
  }
  const resolved = await environments.resolveEnvironment(environments.getActiveEnvironmentPath(resource));
  return resolved?.executable.uri?.fsPath;
}

/** `~` and `${workspaceFolder}` in a configured path, as users write them in settings. */
export function expandPath(value: string, workspaceFolder: string | undefined, home: string): string {
  let path = value;
  if (workspaceFolder !== undefined) {
    path = path.split("${workspaceFolder}").join(workspaceFolder);
  }
  if (path === "~" || path.startsWith("~/")) {
    path = home + path.slice(1);
  }
  return path;
}

export function serverCommand(python: string): { command: string; args: string[] } {
  return { command: python, args: ["-m", "minion.cli", "serve"] };
}

const PROBE_ARGS = ["-c", "import minion; print(minion.__version__)"];
const PROBE_TIMEOUT_MS = 20_000;

/** undefined when minion imports in the interpreter, else what is wrong and the fix. */
export function probe(interpreter: Interpreter): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile(interpreter.python, PROBE_ARGS, { timeout: PROBE_TIMEOUT_MS }, (error, _stdout, stderr) => {
      // A missing interpreter fails the spawn with code "ENOENT"; a failed import, with an exit code.
      const code = (error as { code?: string | number } | null)?.code;
      resolve(error ? probeFailure(interpreter, { code, stderr }) : undefined);
    });
  });
}

/** What a failed probe means for the user, with the fix. */
export function probeFailure(interpreter: Interpreter, error: { code?: string | number; stderr?: string }): string {
  const where = `${interpreter.python} (from ${interpreter.source})`;
  if (error.code === "ENOENT") {
    return `minion: the Python interpreter ${where} was not found. Set "minion.python" to a Python that has minion installed.`;
  }
  if (error.stderr?.includes("No module named")) {
    return (
      `minion is not installed in ${where}. Install it there from a minion checkout with ` +
      `"${interpreter.python} -m pip install /path/to/minion-checkout", or set "minion.python" to ` +
      `a checkout's .venv/bin/python (made by "make setup" there).`
    );
  }
  const detail = (error.stderr ?? "").trim().split("\n").pop() || `exit code ${error.code}`;
  return `minion: ${where} cannot start minion: ${detail}`;
}
