// Runs inside the workbench (code-server) of tests/editors/test_vscode.py and does what a
// user does with the minion extension, through VS Code's own API:
//   1. "Delegate to minion…" on a selection, from the code actions (the lightbulb); the
//      instruction is typed into the extension's input box by the browser (browser.js);
//   2. waits for the run's diagnostics, opens the quick-fix menu for the screenshot, and
//      applies "Apply this change";
//   3. turns the TODO's marker on in the settings (it starts as "FIXME(minion)" only) and
//      points minion.projectPython elsewhere ($MINION_E2E_PROJECT_PYTHON), waits for the
//      server to offer the hand-off, then "Minion: Hand Off TODOs in File"; the TODO's run
//      waits at a gate (a file in its worktree) while the runs view shows it live;
//   4. the test starts `minion run` (the CLI, gated too): the same runs view shows it live,
//      without a restart (screenshot); then the test opens both gates;
//   5. the TODO's run: its log, "Open Diff" (the multi-file diff editor) and its report;
//      its change applied from the quick fix;
//   6. the CLI's run (two hunks): "Open Diff", then the browser hovers the second hunk in
//      the diff and clicks its "Apply this change" (screenshot): the file gets that hunk
//      only, and the lenses and hovers say which is applied; then "Apply This Change" from
//      the diff's context menu on the other: the file gets that one too;
//   7. "Revise with Feedback…" on the CLI's run in the runs view (the browser clicks it and
//      types the feedback): a new round on the same branch; then "Discard Run…" on that
//      round (the browser confirms the dialog, which names the branch): the branch goes;
//   8. "Minion: Delegate…" from the palette, with the instruction as its argument (as a
//      keybinding gives it): the run starts with that task.
// It talks to the browser through files in $MINION_E2E_OUT: it asks with want-<x> files
// and waits for did-<x>; and to the test (the CLI run, the gates) with ask-<x> and
// answer-<x>; it ends by writing result.json.
const { execFileSync } = require("child_process");
const fs = require("fs");
const path = require("path");
const vscode = require("vscode");

const OUT = process.env.MINION_E2E_OUT;
const RUN_TIMEOUT_MS = 120000;
const TODO_TASK = "make mul() multiply";
const CLI_TASK = process.env.MINION_E2E_CLI_TASK;
const FEEDBACK = process.env.MINION_E2E_FEEDBACK;
// A run's row while its agent works (at its gate): its node and turn.
const WORKING = "implement · turn [1-9]";

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

/** Ask the test for something (start the CLI run, open the gates), wait for its answer. */
async function askTest(what, detail = "") {
  fs.writeFileSync(path.join(OUT, `ask-${what}`), detail);
  const answer = path.join(OUT, `answer-${what}`);
  await waitFor(`the test to ${what}`, () => fs.existsSync(answer), 60000);
  const said = JSON.parse(fs.readFileSync(answer, "utf8"));
  if (said.error) {
    throw new Error(`the test could not ${what}: ${said.error}`);
  }
  return said;
}

/** The runs view, focused and wide enough for the screenshots, with no toast over it. */
async function showRunsView() {
  await vscode.commands.executeCommand("notifications.clearAll");
  await vscode.commands.executeCommand("minionRuns.focus");
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
  await showRunsView();
  await vscode.commands.executeCommand("minion.view.showLog", run.id);
  review.log = await askBrowser("log");
  try {
    await vscode.commands.executeCommand("minion.view.openDiff", run.id);
    review.editor = await askBrowser("diff", "");
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
  await closeDiffs();
  return review;
}

/** Close the diffs and the report (the user's file stays open, unsaved). */
async function closeDiffs() {
  const diffTabs = vscode.window.tabGroups.all.flatMap((group) => group.tabs).filter((tab) => !(tab.input instanceof vscode.TabInputText));
  await vscode.window.tabGroups.close(diffTabs);
}

function runSide(runId, file, side) {
  return vscode.Uri.from({ scheme: "minion-run", path: "/" + file, query: `run=${runId}&side=${side}` });
}

async function lensTitles(uri) {
  const lenses = await vscode.commands.executeCommand("vscode.executeCodeLensProvider", uri);
  return lenses.map((lens) => ({ line: lens.range.start.line, title: lens.command && lens.command.title, arguments: lens.command && lens.command.arguments }));
}

async function hoverText(uri, line) {
  const hovers = await vscode.commands.executeCommand("vscode.executeHoverProvider", uri, new vscode.Position(line, 0));
  return hovers.flatMap((hover) => hover.contents.map((content) => (typeof content === "string" ? content : content.value))).join("\n");
}

/**
 * The CLI's run has two hunks: its diff opens, the browser hovers the second and clicks
 * "Apply this change" in the hover. The user's file gets that hunk, and only that one.
 */
async function applyOneHunk(editor, run) {
  const hunk = {};
  const file = "calc/ops.py";
  hunk.before = editor.document.getText();
  const files = await vscode.commands.executeCommand("minion.runFiles", { runId: run.id });
  hunk.hunks = files.files.find((f) => f.path === file).hunks;
  const head = runSide(run.id, file, "head");
  hunk.base = await textOf(runSide(run.id, file, "base"));
  hunk.head = await textOf(head);
  await vscode.commands.executeCommand("minion.view.showLog", run.id); // its log below its diff
  await vscode.commands.executeCommand("minion.view.openDiff", run.id);
  hunk.editor = await askBrowser("diff#cli");
  hunk.lensesBefore = await waitFor("the hunks' lenses", async () => {
    const titles = await lensTitles(head);
    return titles.length === hunk.hunks.length && titles;
  });
  const second = hunk.hunks[1];
  const lineOf = (span) => hunk.head.split("\n").slice(span.head_start, span.head_start + span.head_count).find((text) => text.trim());
  hunk.hovered = await askBrowser("hunk", JSON.stringify({ line: lineOf(second), link: "Apply this change" }));
  await waitFor("the hunk to apply", () => editor.document.getText() !== hunk.before);
  hunk.after = editor.document.getText();
  hunk.lensesAfter = await waitFor("the lens to say it is applied", async () => {
    const titles = await lensTitles(head);
    return titles.some((lens) => lens.title.includes("Applied")) && titles;
  });
  hunk.hoverApplied = await hoverText(head, second.head_start);
  hunk.hoverPending = await hoverText(head, hunk.hunks[0].head_start);
  // Then the other, from the diff's context menu on its first line (the hunk under the cursor).
  hunk.menu = await askBrowser("menu", JSON.stringify({ line: lineOf(hunk.hunks[0]), pick: "Apply This Change" }));
  await waitFor("the other hunk to apply", () => editor.document.getText() !== hunk.after);
  hunk.afterMenu = editor.document.getText();
  await closeDiffs();
  return hunk;
}

/** "Revise with Feedback…" in the runs view: a new round on the run's branch. */
async function reviseInTheRunsView(run) {
  await showRunsView();
  const known = new Set((await runs()).map((r) => r.id));
  await askBrowser("revise", JSON.stringify({ task: run.task.split("\n")[0].trim(), feedback: FEEDBACK }));
  const round = await waitFor("the new round", async () => (await runs()).find((r) => !known.has(r.id)), 30000);
  const done = await ended(round.id);
  return { id: done.id, status: done.status, branch: done.branch, revises: done.revises, task: done.task, files: done.files };
}

function branchExists(repo, branch) {
  try {
    execFileSync("git", ["-C", repo, "rev-parse", "--verify", "--quiet", `refs/heads/${branch}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** "Discard Run…" in the runs view, confirmed in the dialog that names the branch. */
async function discardInTheRunsView(run) {
  await showRunsView();
  const task = run.task.split("\n")[0].trim();
  await askBrowser("runs#ended", JSON.stringify({ task, until: `${run.status} · \\d+ files?` })); // the view has it as ended
  const dialog = await askBrowser("discard", JSON.stringify({ task, button: "Discard" }));
  await waitFor(`${run.branch} to be deleted`, () => !branchExists(run.repo, run.branch), 30000);
  return { dialog: JSON.parse(dialog), id: run.id, branch: run.branch };
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
  // It waits at its gate: the runs view shows it working, live.
  await showRunsView();
  report.live = { todo: await askBrowser("runs", JSON.stringify({ task: TODO_TASK, until: WORKING })) };
  // 3. A run started in a terminal shows up in the same view, live, without a restart.
  const cli = await askTest("cli");
  report.live.cliId = cli.id;
  report.live.cli = await askBrowser("runs#cli", JSON.stringify({ task: CLI_TASK, until: WORKING, shot: "runs.png" }));
  await askTest("release", JSON.stringify([todoRun.id, cli.id]));
  const todo = await result(uri, todoRun.id);
  const cliRun = await ended(cli.id);
  report.review = await reviewInTheRunsView(todo.run);
  report.review.rows = report.live.todo;
  editor = await vscode.window.showTextDocument(editor.document);
  await applyThisChange(editor, todo.run.id, todo.diagnostic);
  report.todo = describe(todo.run, todo.diagnostic, editor.document);

  // 4. One hunk of the CLI's run, from its diff.
  report.hunk = await applyOneHunk(editor, cliRun);
  report.cli = { id: cliRun.id, status: cliRun.status, branch: cliRun.branch };
  // 5. Send it back with feedback, then throw that round away.
  const round = await reviseInTheRunsView(cliRun);
  report.revise = round;
  report.commits = await askTest("commits", JSON.stringify({ runId: cliRun.id, branch: round.branch })); // before the discard
  report.discard = await discardInTheRunsView({ ...round, repo: cliRun.repo });
  editor = await vscode.window.showTextDocument(editor.document);

  // 6. The palette's command, with the instruction given.
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
