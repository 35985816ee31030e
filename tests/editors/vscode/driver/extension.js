// Runs inside the workbench (code-server) of tests/editors/test_vscode.py and does what a
// user does with the minion extension, through VS Code's own API:
//   1. "Delegate to minion…" on a selection, from the code actions (the lightbulb); the
//      instruction is typed into the extension's input box by the browser (browser.mjs);
//   2. waits for the run's diagnostics, opens the quick-fix menu for the screenshot, and
//      applies "Apply this change";
//   3. turns the TODO's marker on in the settings (it starts as "FIXME(minion)" only) and
//      points minion.projectPython elsewhere ($MINION_E2E_PROJECT_PYTHON), waits for the
//      server to offer the hand-off, then "Minion: Hand Off TODOs in File" and the same
//      again for the TODO's run;
//      before applying it, the runs view shows the TODO's run and "Open Diff" opens its
//      change in the multi-file diff editor (screenshots of both);
//   4. "Minion: Delegate…" from the palette, with the instruction as its argument (as a
//      keybinding gives it): the run starts with that task.
// It talks to the browser and the test through files in $MINION_E2E_OUT: it asks with
// want-<x> files and waits for did-<x>; it ends by writing result.json.
const fs = require("fs");
const path = require("path");
const vscode = require("vscode");

const OUT = process.env.MINION_E2E_OUT;
const RUN_TIMEOUT_MS = 120000;

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function waitFor(what, probe, timeoutMs = 30000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) {
      return value;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await sleep(200);
  }
}

/** Ask the browser for something (type an instruction, take a screenshot), wait for it, return what it said. */
async function askBrowser(what, detail = "") {
  fs.writeFileSync(path.join(OUT, `want-${what}`), detail);
  const did = path.join(OUT, `did-${what}`);
  await waitFor(`the browser to ${what}`, () => fs.existsSync(did), 60000);
  return fs.readFileSync(did, "utf8");
}

/** The text of a document (a minion-run: one is served by the extension from the server). */
async function textOf(uri) {
  return (await vscode.workspace.openTextDocument(uri)).getText();
}

/**
 * The runs view shows the run (the browser reads its rows and takes the screenshot), then
 * its diff opens from the view's command: the multi-file diff editor over minion-run: URIs.
 */
async function reviewInTheRunsView(run) {
  const review = {};
  await sleep(2500); // the end-of-run toast comes after a quiet time (runs that end together make one)
  await vscode.commands.executeCommand("notifications.clearAll");
  await vscode.commands.executeCommand("minionRuns.focus");
  for (let i = 0; i < 2; i++) {
    await vscode.commands.executeCommand("workbench.action.increaseViewSize"); // a wider sidebar for the screenshot
  }
  review.rows = await askBrowser("runs", run.task.split("\n")[0].trim());
  await vscode.commands.executeCommand("minion.view.showLog", run.id);
  review.log = await askBrowser("log");
  try {
    await vscode.commands.executeCommand("minion.view.openDiff", run.id);
    review.editor = await askBrowser("diff");
    const tab = vscode.window.tabGroups.activeTabGroup.activeTab;
    review.tab = tab && { label: tab.label, input: tab.input && tab.input.constructor.name };
    const side = (s) => vscode.Uri.from({ scheme: "minion-run", path: "/calc/ops.py", query: `run=${run.id}&side=${s}` });
    review.base = await textOf(side("base"));
    review.head = await textOf(side("head"));
    // The report opens rendered: the Markdown preview (a webview), not its source.
    await vscode.commands.executeCommand("minion.view.openReport", run.id);
    const preview = await waitFor("the report's preview", () => {
      const active = vscode.window.tabGroups.activeTabGroup.activeTab;
      return active && active.input instanceof vscode.TabInputWebview && active;
    });
    review.report = { label: preview.label, viewType: preview.input.viewType };
  } catch (error) {
    review.error = String(error && error.stack ? error.stack : error);
  }
  // Close the diff (the user's file stays open, unsaved).
  const diffTabs = vscode.window.tabGroups.all.flatMap((group) => group.tabs).filter((tab) => !(tab.input instanceof vscode.TabInputText));
  await vscode.window.tabGroups.close(diffTabs);
  return review;
}

function codeOf(diagnostic) {
  return typeof diagnostic.code === "object" ? diagnostic.code.value : diagnostic.code;
}

function minionDiagnostics(uri, runId) {
  return vscode.languages.getDiagnostics(uri).filter((d) => d.source === "minion" && codeOf(d) === runId);
}

function codeActions(uri, range) {
  return vscode.commands.executeCommand("vscode.executeCodeActionProvider", uri, range);
}

/** What the user picks in a menu: run the action's edit, then its command. */
async function pick(action) {
  if (action.edit) {
    await vscode.workspace.applyEdit(action.edit);
  }
  if (action.command) {
    return vscode.commands.executeCommand(action.command.command, ...(action.command.arguments || []));
  }
}

async function runs() {
  return vscode.commands.executeCommand("minion.runs"); // the server's command, via the client
}

function ended(runId) {
  return waitFor(
    `run ${runId} to end`,
    async () => (await runs()).find((r) => r.id === runId && r.status !== "queued" && r.status !== "running"),
    RUN_TIMEOUT_MS,
  );
}

/** Wait for the run to end and its diagnostic to arrive; return the run and the diagnostic. */
async function result(uri, runId) {
  const run = await ended(runId);
  const [diagnostic, ...more] = await waitFor(`run ${runId}'s diagnostics`, () => {
    const found = minionDiagnostics(uri, runId);
    return found.length > 0 && found;
  });
  if (more.length > 0) {
    throw new Error(`one diagnostic expected for run ${runId}, got ${1 + more.length}`);
  }
  return { run, diagnostic };
}

async function applyThisChange(editor, runId, diagnostic) {
  const before = editor.document.getText();
  const actions = await codeActions(editor.document.uri, diagnostic.range);
  const apply = actions.find((a) => a.title === `Apply this change (minion ${runId})`);
  if (!apply) {
    throw new Error(`no "Apply this change" among: ${actions.map((a) => a.title).join(" | ")}`);
  }
  await pick(apply);
  await waitFor("the change to apply", () => editor.document.getText() !== before);
}

function describe(run, diagnostic, document) {
  return {
    id: run.id,
    status: run.status,
    branch: run.branch,
    line: diagnostic.range.start.line,
    severity: vscode.DiagnosticSeverity[diagnostic.severity],
    message: diagnostic.message,
    text: document.getText(),
  };
}

async function scenario() {
  const folder = vscode.workspace.workspaceFolders[0].uri;
  const uri = vscode.Uri.joinPath(folder, "calc", "ops.py");
  let editor = await vscode.window.showTextDocument(uri);
  const report = { lightbulb: [] };

  // The server is up once it offers its actions (code actions are the lightbulb's).
  const all = new vscode.Range(0, 0, 2, 0);
  const offered = await waitFor("minion's code actions", async () => {
    const actions = await codeActions(uri, all);
    return actions.some((a) => a.title === "Delegate to minion…") && actions;
  }, 60000);
  report.lightbulb = offered.map((a) => a.title);
  const todoLine = new vscode.Range(5, 0, 5, 0);
  const handOff = async () => (await codeActions(uri, todoLine)).some((a) => a.title === "Hand off TODO to minion");
  report.handOffBeforeSettingChange = await handOff();

  // 1. The selection, delegated from the lightbulb; the extension asks for the instruction.
  editor.selection = new vscode.Selection(0, 0, 2, 0);
  const delegate = offered.find((a) => a.title === "Delegate to minion…");
  const started = pick(delegate);
  await askBrowser("instruction");
  const first = await started;
  report.live = await askBrowser("live"); // not asserted: the run may have ended already
  const fix = await result(uri, first.runId);
  report.instructionTask = fix.run.task;

  // The screenshot: the diagnostic in the Problems panel, and its quick fixes on its line.
  await vscode.commands.executeCommand("workbench.actions.view.problems");
  await vscode.window.showTextDocument(editor.document);
  await askBrowser("screenshot", editor.document.lineAt(fix.diagnostic.range.start.line).text);

  await applyThisChange(editor, fix.run.id, fix.diagnostic);
  report.fix = describe(fix.run, fix.diagnostic, editor.document);

  // 2. The TODO, once its marker is in the settings (workspace/configuration, section minion);
  // the project's Python changes with it, for the TODO's run.
  const settings = vscode.workspace.getConfiguration("minion");
  await settings.update("projectPython", process.env.MINION_E2E_PROJECT_PYTHON, vscode.ConfigurationTarget.Global);
  await settings.update("todoPatterns", ["TODO(minion)"], vscode.ConfigurationTarget.Global);
  await waitFor("the TODO's hand-off after the setting changed", handOff);
  const known = new Set((await runs()).map((r) => r.id));
  await vscode.commands.executeCommand("minion.handOffTodos");
  const todoRun = await waitFor("the TODO's run", async () => (await runs()).find((r) => !known.has(r.id)));
  const todo = await result(uri, todoRun.id);
  report.review = await reviewInTheRunsView(todo.run);
  editor = await vscode.window.showTextDocument(editor.document);
  await applyThisChange(editor, todo.run.id, todo.diagnostic);
  report.todo = describe(todo.run, todo.diagnostic, editor.document);

  // 3. The palette's command, with the instruction given.
  editor.selection = new vscode.Selection(4, 0, 7, 0);
  const third = await vscode.commands.executeCommand("minion.delegateSelection", "document mul()");
  const run = await ended(third.runId);
  report.palette = { task: run.task, branch: third.branch, runBranch: run.branch };
  return report;
}

exports.activate = async function activate() {
  if (!OUT) {
    return;
  }
  let outcome;
  try {
    outcome = { ok: true, ...(await scenario()) };
  } catch (error) {
    outcome = { ok: false, error: String(error && error.stack ? error.stack : error) };
  }
  fs.writeFileSync(path.join(OUT, "result.json"), JSON.stringify(outcome, null, 1));
};
