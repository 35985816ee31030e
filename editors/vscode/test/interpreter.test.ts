import * as assert from "node:assert/strict";
import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import {
  PythonEnvironments,
  expandPath,
  findInterpreter,
  findProjectPython,
  probe,
  probeFailure,
  serverCommand,
} from "../src/interpreter";

const context = { workspaceFolder: "/work/app", home: "/home/ada" };

function pythonExtension(active: string, executable: string | undefined): () => Promise<PythonEnvironments> {
  return async () => ({
    getActiveEnvironmentPath: () => ({ path: active }),
    resolveEnvironment: async (environment) => {
      assert.equal(environment.path, active);
      return { executable: { uri: executable ? { fsPath: executable } : undefined } };
    },
    onDidChangeActiveEnvironmentPath: () => ({ dispose() {} }),
  });
}

const noPythonExtension = async () => undefined;

test("the minion.python setting wins, with ~ and ${workspaceFolder} expanded", async () => {
  const lookedUp: string[] = [];
  const extension = async () => {
    lookedUp.push("python extension");
    return undefined;
  };
  assert.deepEqual(await findInterpreter("${workspaceFolder}/.venv/bin/python", extension, context), {
    python: "/work/app/.venv/bin/python",
    source: "minion.python",
  });
  assert.deepEqual(await findInterpreter(" ~/venvs/minion/bin/python ", extension, context), {
    python: "/home/ada/venvs/minion/bin/python",
    source: "minion.python",
  });
  assert.deepEqual(lookedUp, []);
});

test("else the Python extension's active interpreter, resolved to its executable", async () => {
  assert.deepEqual(await findInterpreter("", pythonExtension("/envs/conda-env", "/envs/conda-env/bin/python"), context), {
    python: "/envs/conda-env/bin/python",
    source: "Python extension",
  });
});

test("else python3: without the Python extension, or when it cannot resolve its environment", async () => {
  const fallback = { python: "python3", source: "default" };
  assert.deepEqual(await findInterpreter("", noPythonExtension, context), fallback);
  assert.deepEqual(await findInterpreter("  ", pythonExtension("/envs/gone", undefined), context), fallback);
});

test("the project's Python: minion.projectPython, with ~ and ${workspaceFolder} expanded", async () => {
  const extension = pythonExtension("/envs/other", "/envs/other/bin/python");
  assert.equal(await findProjectPython(" ${workspaceFolder}/.venv ", extension, context), "/work/app/.venv");
  assert.equal(await findProjectPython("~/venvs/app/bin/python", extension, context), "/home/ada/venvs/app/bin/python");
});

test("else the Python extension's active environment for the workspace folder, resolved to its executable", async () => {
  const resources: unknown[] = [];
  const extension = async (): Promise<PythonEnvironments> => ({
    ...(await pythonExtension("/work/app/.venv", "/work/app/.venv/bin/python")()),
    getActiveEnvironmentPath: (resource) => {
      resources.push(resource);
      return { path: "/work/app/.venv" };
    },
  });
  const folder = { fsPath: "/work/app" };
  assert.equal(await findProjectPython("", extension, { ...context, resource: folder }), "/work/app/.venv/bin/python");
  assert.deepEqual(resources, [folder]);
});

test("else none, for the server to find: without the Python extension, or when it cannot resolve", async () => {
  assert.equal(await findProjectPython("", noPythonExtension, context), undefined);
  assert.equal(await findProjectPython(" ", pythonExtension("/envs/gone", undefined), context), undefined);
});

test("expandPath leaves other paths alone", () => {
  assert.equal(expandPath("/usr/bin/python3", undefined, "/home/ada"), "/usr/bin/python3");
  assert.equal(expandPath("python~3", "/w", "/home/ada"), "python~3");
  assert.equal(expandPath("${workspaceFolder}/py", undefined, "/home/ada"), "${workspaceFolder}/py");
});

test("the server command runs minion's CLI module with that Python", () => {
  assert.deepEqual(serverCommand("/opt/py/bin/python"), {
    command: "/opt/py/bin/python",
    args: ["-m", "minion.cli", "serve"],
  });
});

test("a failed probe names the interpreter, where it came from, and the fix", () => {
  const interpreter = { python: "/usr/bin/python3", source: "default" as const };
  const missing = probeFailure(interpreter, { code: 1, stderr: "ModuleNotFoundError: No module named 'minion'\n" });
  assert.match(missing, /minion is not installed in \/usr\/bin\/python3 \(from default\)/);
  assert.match(missing, /"\/usr\/bin\/python3 -m pip install \/path\/to\/minion-checkout"/);
  assert.doesNotMatch(missing, /pip install minion/); // no such package is published
  assert.match(missing, /"minion\.python" to a checkout's \.venv\/bin\/python/);

  const absent = probeFailure({ python: "/nope/python", source: "minion.python" }, { code: "ENOENT" });
  assert.match(absent, /\/nope\/python \(from minion.python\) was not found/);

  const broken = probeFailure(interpreter, { code: 1, stderr: "Traceback ...\nImportError: libfoo.so\n" });
  assert.match(broken, /cannot start minion: ImportError: libfoo.so$/);
});

/**
 * An executable standing in for a Python: it answers the probe (`-c "import minion; …"`)
 * as a Python with or without minion does, so the probe's spawn, exit code and stderr are
 * tested on any machine. (The editor test runs the probe against the venv's real Python.)
 */
function fakePython(name: string, script: string): string {
  const dir = mkdtempSync(join(tmpdir(), "minion-probe-"));
  const file = join(dir, name);
  writeFileSync(file, `#!/bin/sh\n${script}\n`);
  chmodSync(file, 0o755);
  return file;
}

test("probing an interpreter without minion, and one that does not exist", async () => {
  const without = fakePython("python3", `echo "Traceback (most recent call last):" >&2; echo "ModuleNotFoundError: No module named 'minion'" >&2; exit 1`);
  const said = await probe({ python: without, source: "default" });
  assert.match(said ?? "", /minion is not installed in .*python3 \(from default\)/);
  assert.match(said ?? "", /-m pip install \/path\/to\/minion-checkout/);
  const absent = await probe({ python: "/nonexistent/python3", source: "minion.python" });
  assert.match(absent ?? "", /\/nonexistent\/python3 \(from minion.python\) was not found/);
});

test("probing an interpreter that has minion finds nothing wrong", async () => {
  const python = fakePython("python", 'test "$1" = -c && echo 0.1.0');
  assert.equal(await probe({ python, source: "minion.python" }), undefined);
});
