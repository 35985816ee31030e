// The VS Code side of minion: starts `minion serve` with the right Python, and adds what
// the protocol leaves to the editor (docs/lsp.md): the instruction prompt, the runs view
// (runsTree.ts), the run's diff (review.ts), its live log, the status-bar item, the
// collapsed end-of-run toasts and a few commands. Code actions, diagnostics, quick fixes
// and progress come from the server through vscode-languageclient unchanged.

import * as os from "os";
import * as vscode from "vscode";
import {
  CodeActionRequest,
  DidChangeConfigurationNotification,
  ErrorCodes,
  ExecuteCommandRequest,
  LanguageClient,
  LanguageClientOptions,
  ResponseError,
  ShowMessageRequest,
  State,
} from "vscode-languageclient/node";
import type { Element, RunElement } from "./runsTree";
import { RunsTree } from "./runsTree";
import { LogFollower, ToastBatcher, severityOf } from "./live";
import { HunkReview } from "./hunkReview";
import { APPLY_HUNK, APPLY_HUNK_AT_CURSOR } from "./hunks";
import { SCHEME, diffEntries, diffTitle, isReport, openDiff, parseRunFileUri } from "./review";
import { OPEN_DIFF, REVISE, SHOW_LOG, VIEW_COMMANDS, statusItem } from "./runsView";
import { isDuplicate } from "./contract";
import { needsInstruction, selectionDelegation, todoCandidateLines, todoHandOffs, todoPatterns } from "./delegate";
import { Interpreter, PythonEnvironments, findInterpreter, findProjectPython, probe, serverCommand } from "./interpreter";
import { describeRun, isActive, runActions } from "./runs";
import { initializationOptions, serverSettings } from "./settings";
import type { Command, CommandArguments, CommandResults, Delegation, Notifications, RunAction, RunRow, RunStatus, StartedRun } from "./wire";

export function activate(context: vscode.ExtensionContext): void {
  const minion = new Minion();
  context.subscriptions.push(
    minion,
    vscode.commands.registerCommand("minion.delegateSelection", (instruction?: string) => minion.delegateSelection(instruction)),
    vscode.commands.registerCommand("minion.handOffTodos", () => minion.handOffTodos()),
    vscode.commands.registerCommand("minion.showRuns", () => minion.showRuns()),
    vscode.commands.registerCommand("minion.cancelRun", (runId?: unknown) => minion.cancelRun(typeof runId === "string" ? runId : undefined)),
    vscode.commands.registerCommand("minion.refreshRuns", () => minion.tree.refresh()),
    ...Object.entries(VIEW_COMMANDS).map(([action, command]) =>
      vscode.commands.registerCommand(command, (target?: unknown) => minion.viewAction(action as RunAction, target)),
    ),
    vscode.commands.registerCommand(OPEN_DIFF, (target?: unknown) => minion.openDiff(target)),
    vscode.commands.registerCommand(REVISE, (target?: unknown) => minion.revise(target)),
    vscode.commands.registerCommand(SHOW_LOG, (target?: unknown) => minion.showLog(target)),
    vscode.commands.registerCommand(APPLY_HUNK, (runId: unknown, index: unknown) =>
      typeof runId === "string" && typeof index === "number" ? minion.hunks.apply(runId, index) : minion.hunks.applyAtCursor(),
    ),
    vscode.commands.registerCommand(APPLY_HUNK_AT_CURSOR, () => minion.hunks.applyAtCursor()),
    vscode.workspace.registerTextDocumentContentProvider(SCHEME, { provideTextDocumentContent: (uri) => minion.fileAt(uri) }),
    vscode.commands.registerCommand("minion.restartServer", () => minion.restart()),
    vscode.workspace.onDidChangeConfiguration((event) => minion.configurationChanged(event)),
  );
  void minion.restart();
}

class Minion implements vscode.Disposable {
  private client: LanguageClient | undefined;
  private interpreter: Interpreter | undefined;
  private problem: string | undefined; // why the server is not running
  private readonly output = vscode.window.createOutputChannel("Minion");
  private readonly statusItem = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Left, 10);
  private watchingPythonExtension = false;
  private markers: string[] | undefined; // the TODO patterns, the server's (initialize, then minion/capabilities)
  private lifecycle: Promise<void> = Promise.resolve(); // starts and stops, one at a time
  readonly tree = new RunsTree({
    runs: () => this.execute("minion.runs", [{ scope: "workspace" }], true),
    nodes: (runId) => this.call("minion.runNodes", { runId }, true),
  });
  /** Per-hunk Apply in a run's diff (hunkReview.ts). */
  readonly hunks = new HunkReview({
    files: (runId) => this.call("minion.runFiles", { runId }, true),
    fileAt: async (runId, path, side) => (await this.call("minion.fileAt", { runId, path, side }, true))?.text,
    apply: (runId, index) => this.execute("minion.applyHunk", [runId, index]),
    root: (runId) => {
      const repo = this.tree.find(runId)?.run.repo;
      return repo ? vscode.Uri.file(repo) : vscode.workspace.workspaceFolders?.[0]?.uri;
    },
  });
  private readonly treeView = vscode.window.createTreeView<Element>("minionRuns", { treeDataProvider: this.tree, showCollapseAll: true });
  private readonly active = new Map<string, RunStatus>(); // the active runs, oldest first
  private readonly logs = new Map<string, { channel: vscode.OutputChannel; follower: LogFollower; timer?: NodeJS.Timeout }>();
  private readonly selections = new Map<string, { uri: string; range: vscode.Range }>(); // delegated selections, by run
  private readonly selectionDecoration = vscode.window.createTextEditorDecorationType({
    backgroundColor: new vscode.ThemeColor("editor.rangeHighlightBackground"),
    isWholeLine: true,
    overviewRulerColor: new vscode.ThemeColor("editorOverviewRuler.rangeHighlightForeground"),
    overviewRulerLane: vscode.OverviewRulerLane.Left,
  });
  private readonly toasts = new ToastBatcher(
    (message, actions, severity) =>
      (severity === "error"
        ? vscode.window.showErrorMessage
        : severity === "warning"
          ? vscode.window.showWarningMessage
          : vscode.window.showInformationMessage)(message, ...actions),
    () => void this.focusRuns(),
  );
  private readonly disposables: vscode.Disposable[] = [
    this.output,
    this.statusItem,
    this.tree,
    this.hunks,
    this.treeView,
    this.selectionDecoration,
    vscode.window.onDidChangeVisibleTextEditors(() => this.decorateSelections()),
  ];

  constructor() {
    this.statusItem.name = "Minion";
    this.showActive();
    this.statusItem.show();
  }

  // --- the server's lifecycle --------------------------------------------------------------

  /** (Re)start the server, after any start or stop under way. */
  restart(): Promise<void> {
    const step = async () => {
      await this.stop();
      await this.start();
    };
    this.lifecycle = this.lifecycle.then(step, step); // a failed start does not block the next
    return this.lifecycle;
  }

  private async start(): Promise<void> {
    const interpreter = await findInterpreter(
      vscode.workspace.getConfiguration("minion").get<string>("python", ""),
      () => this.pythonEnvironments(),
      { workspaceFolder: vscode.workspace.workspaceFolders?.[0]?.uri.fsPath, home: os.homedir() },
    );
    this.interpreter = interpreter;
    const failure = await probe(interpreter);
    if (failure) {
      this.fail(failure);
      return;
    }
    const { command, args } = serverCommand(interpreter.python);
    this.output.appendLine(`starting: ${command} ${args.join(" ")} (Python from ${interpreter.source})`);
    const options = this.clientOptions(await this.projectPython());
    const client = new LanguageClient("minion", "Minion", { command, args }, options);
    this.markers = undefined;
    client.onNotification("minion/runStatus", (status: Notifications["minion/runStatus"]) => this.runStatus(status));
    // The end-of-run toasts: several at once collapse into one (live.ts).
    client.onRequest(ShowMessageRequest.type, async (params) => {
      const actions = params.actions ?? [];
      const title = await this.toasts.push(params.message, actions.map((action) => action.title), severityOf(params.type));
      return actions.find((action) => action.title === title) ?? null;
    });
    client.onNotification("minion/capabilities", (capabilities: Notifications["minion/capabilities"]) => {
      this.markers = todoPatterns({ minion: capabilities });
    });
    this.client = client;
    try {
      await client.start();
    } catch (error) {
      this.fail(`minion: the server did not start: ${String(error)}. See the "Minion" output.`);
      return;
    }
    this.problem = undefined;
    this.hunks.forget();
    this.markers ??= todoPatterns(client.initializeResult?.capabilities.experimental); // unless changed since
    this.active.clear();
    await this.tree.refresh();
    for (const run of this.tree.runs.filter(isActive).reverse()) {
      this.active.set(run.id, { ...run, node: run.node ?? null, active: 0 });
      this.followLog(run.id);
    }
    this.showActive();
  }

  private async stop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client?.needsStop()) {
      await client.stop(5_000).catch((error) => this.output.appendLine(`stopping the server: ${String(error)}`));
    }
  }

  configurationChanged(event: vscode.ConfigurationChangeEvent): void {
    if (event.affectsConfiguration("minion.python")) {
      void this.restart();
    } else if (event.affectsConfiguration("minion")) {
      this.settingsChanged();
    }
  }

  /** Have a running server ask for section "minion" again (answered by the middleware below). */
  private settingsChanged(): void {
    if (this.client?.state === State.Running) {
      void this.client.sendNotification(DidChangeConfigurationNotification.type, { settings: null });
    }
  }

  /** The project's Python for the server's `python` setting, for the (first) workspace folder. */
  private projectPython(): Promise<string | undefined> {
    const folder = vscode.workspace.workspaceFolders?.[0];
    return findProjectPython(
      vscode.workspace.getConfiguration("minion").get<string>("projectPython", ""),
      () => this.pythonEnvironments(),
      { workspaceFolder: folder?.uri.fsPath, home: os.homedir(), resource: folder?.uri },
    );
  }

  private clientOptions(projectPython: string | undefined): LanguageClientOptions {
    return {
      documentSelector: [{ scheme: "file" }],
      initializationOptions: initializationOptions(minionSection(), projectPython),
      outputChannel: this.output,
      middleware: {
        executeCommand: async (command, args, next) => {
          if (command === "minion.delegate") {
            // "Delegate to minion…" arrives without an instruction: ask for it.
            if (needsInstruction(args[0])) {
              const instruction = await promptInstruction();
              if (!instruction) {
                return undefined;
              }
              args = [{ ...args[0], instruction }];
            }
            const argument = args[0] as Delegation;
            return this.delegated(argument, await next(command, args), (forced) => next(command, [forced]));
          }
          const result = await next(command, args);
          if (command === "minion.showRun" && result) {
            await this.reveal((result as RunRow).id);
          }
          return result;
        },
        window: {
          // A run report (markdown) opens rendered; the compare URL and the rest as asked.
          showDocument: async (params, next) => {
            if (isReport(params.uri, params.external)) {
              await vscode.commands.executeCommand("markdown.showPreview", vscode.Uri.parse(params.uri));
              return { success: true };
            }
            const shown = await next(params, new vscode.CancellationTokenSource().token);
            return shown instanceof ResponseError ? { success: false } : shown;
          },
        },
        workspace: {
          // Only the keys the server knows: it rejects unknown ones (minion.python, projectPython, trace).
          // `python` is the project's interpreter as it is now, e.g. after the Python
          // extension's choice changed.
          configuration: async (params, token, next) => {
            const answer = await next(params, token);
            if (!Array.isArray(answer)) {
              return answer;
            }
            const python = await this.projectPython();
            return answer.map((value, index) =>
              params.items[index]?.section === "minion" ? serverSettings(value as Record<string, unknown>, python) : value,
            );
          },
        },
      },
    };
  }

  private async pythonEnvironments(): Promise<PythonEnvironments | undefined> {
    const extension = vscode.extensions.getExtension("ms-python.python");
    if (!extension) {
      return undefined;
    }
    const api = extension.isActive ? extension.exports : await extension.activate();
    const environments = api?.environments;
    if (environments && !this.watchingPythonExtension) {
      this.watchingPythonExtension = true;
      this.disposables.push(
        environments.onDidChangeActiveEnvironmentPath(() => {
          if (this.interpreter?.source === "Python extension") {
            void this.restart();
          } else {
            this.settingsChanged(); // the project's Python may be the new choice
          }
        }),
      );
    }
    return environments;
  }

  private fail(message: string): void {
    this.problem = message;
    this.output.appendLine(message);
    this.statusItem.text = "$(error) minion";
    this.statusItem.tooltip = message;
    void vscode.window.showErrorMessage(message, "Open Settings", "Show Output").then((choice) => {
      if (choice === "Open Settings") {
        void vscode.commands.executeCommand("workbench.action.openSettings", "minion.python");
      } else if (choice === "Show Output") {
        this.output.show();
      }
    });
  }

  /** The running client, or undefined after telling the user why there is none. */
  private ready(): LanguageClient | undefined {
    if (this.client?.state === State.Running) {
      return this.client;
    }
    const why = this.problem ?? "the minion server is not running";
    void vscode.window.showErrorMessage(`${why} (Minion: Restart Server retries).`);
    return undefined;
  }

  /** Run a server command; a user error was already shown by the server, others are shown here. */
  private async execute<C extends Command>(command: C, args: unknown[], quiet = false): Promise<CommandResults[C] | undefined> {
    return (await this.request(command, args, quiet)) as CommandResults[C] | undefined;
  }

  /** A command that takes one object argument. */
  private async call<C extends keyof CommandArguments>(command: C, argument: CommandArguments[C], quiet = false): Promise<CommandResults[C] | undefined> {
    return (await this.request(command, [argument], quiet)) as CommandResults[C] | undefined;
  }

  private async request(command: string, args: unknown[], quiet: boolean): Promise<unknown> {
    const client = quiet ? (this.client?.state === State.Running ? this.client : undefined) : this.ready();
    if (!client) {
      return undefined;
    }
    try {
      return await client.sendRequest(ExecuteCommandRequest.type, { command, arguments: args });
    } catch (error) {
      this.output.appendLine(`${command} failed: ${String(error)}`);
      if (!quiet && !(error instanceof ResponseError && error.code === ErrorCodes.InvalidParams)) {
        void vscode.window.showErrorMessage(`minion: ${command} failed: ${String(error)}`);
      }
      return undefined;
    }
  }

  // --- status ----------------------------------------------------------------------------

  private runStatus(status: RunStatus): void {
    if (status.ended) {
      this.active.delete(status.id);
      this.selections.delete(status.id);
      this.decorateSelections();
      this.hunks.forget(status.id); // its branch may have moved (a resumed run): its hunks are read again
    } else {
      this.active.delete(status.id); // re-inserted: the newest news last
      this.active.set(status.id, status);
      this.followLog(status.id);
    }
    this.showActive();
    this.tree.runStatus(status);
  }

  private showActive(): void {
    const shown = statusItem([...this.active.values()]);
    this.statusItem.text = shown.text;
    this.statusItem.tooltip = shown.tooltip;
    this.statusItem.command = shown.cancels
      ? { command: "minion.cancelRun", title: "Cancel run", arguments: [shown.cancels] }
      : { command: "minionRuns.focus", title: "Show runs" };
  }

  // --- the runs view -----------------------------------------------------------------------

  private focusRuns(): Thenable<unknown> {
    return vscode.commands.executeCommand("minionRuns.focus");
  }

  /** Reveal a run in the runs view (after `minion.showRun`). */
  private async reveal(runId: string): Promise<void> {
    await this.tree.refresh();
    const element = this.tree.find(runId);
    await this.focusRuns();
    if (element) {
      await this.treeView.reveal(element, { select: true, focus: true, expand: true });
    }
  }

  /** The run a view command is about: its tree element, a run id, else one the user picks. */
  private async target(target: unknown, placeHolder: string, which: (run: RunRow) => boolean = () => true): Promise<RunRow | undefined> {
    if (typeof target === "object" && target !== null && (target as Element).kind === "run") {
      return (target as RunElement).run;
    }
    if (typeof target === "object" && target !== null && (target as Element).kind === "node") {
      return this.tree.find((target as { runId: string }).runId)?.run;
    }
    if (this.tree.runs.length === 0) {
      await this.tree.refresh();
    }
    if (typeof target === "string") {
      return this.tree.find(target)?.run;
    }
    const runs = this.tree.runs.filter(which);
    const picked = await vscode.window.showQuickPick(runs.map((run) => ({ ...describeRun(run), run })), { placeHolder });
    return picked?.run;
  }

  /** A server action on a run of the view; the report opens rendered. */
  async viewAction(action: RunAction, target: unknown): Promise<void> {
    const run = await this.target(target, `${action.replace("minion.", "")} which run?`, (row) => row.actions.includes(action));
    if (!run) {
      return;
    }
    if (action === "minion.openReport" && run.report_uri) {
      await vscode.commands.executeCommand("markdown.showPreview", vscode.Uri.parse(run.report_uri));
      return;
    }
    if (action === "minion.discard") {
      await this.discard(run);
    } else if (action === "minion.cancel") {
      await this.cancelRun(run.id);
    } else {
      const result = await this.execute(action, [run.id]);
      if (action === "minion.apply" && result) {
        const { applied, skipped } = result as CommandResults["minion.apply"];
        vscode.window.setStatusBarMessage(`minion: applied ${applied} change(s) of run ${run.id}${skipped ? `, skipped ${skipped}` : ""}`, 5_000);
      }
    }
    this.tree.refreshSoon();
  }

  private async discard(run: RunRow): Promise<void> {
    const branch = run.branch ? ` Its branch ${run.branch} and its worktree are deleted.` : "";
    const choice = await vscode.window.showWarningMessage(
      `Discard minion run ${run.id}?${branch}`,
      { modal: true, detail: run.task.split("\n")[0] },
      "Discard",
    );
    if (choice === "Discard") {
      await this.execute("minion.discard", [run.id, true]);
    }
  }

  /** Send a run back with feedback: a new round on its branch (`minion.revise`). */
  async revise(target: unknown): Promise<void> {
    const run = await this.target(target, "Revise which run?", (row) => row.ended && row.branch != null);
    if (!run) {
      return;
    }
    const feedback = await vscode.window.showInputBox({
      title: `Revise minion run ${run.id}`,
      prompt: `What should change? A new round starts on ${run.branch ?? "its branch"}, from where this one ended.`,
      placeHolder: "e.g. also handle empty input",
      ignoreFocusOut: true,
      validateInput: (value) => (value.trim() ? undefined : "Say what to change"),
    });
    if (!feedback) {
      return;
    }
    const started = await this.call("minion.revise", { runId: run.id, feedback: feedback.trim() });
    if (started) {
      vscode.window.setStatusBarMessage(`minion: run ${started.runId} revises ${run.id} on ${started.branch ?? "its branch"}`, 5_000);
      await this.tree.refresh();
    }
  }

  // --- review as a diff --------------------------------------------------------------------

  /** The text of a `minion-run:` document (review.ts): the run's file on one side, empty when it has none. */
  async fileAt(uri: vscode.Uri): Promise<string> {
    const ref = parseRunFileUri(uri);
    if (!ref) {
      return "";
    }
    const found = await this.call("minion.fileAt", ref, true);
    return found?.text ?? "";
  }

  /** The run's change in the native multi-file diff editor (else one diff per file). */
  async openDiff(target: unknown): Promise<void> {
    const run = await this.target(target, "Open the diff of which run?", (row) => row.branch != null && row.files.length > 0);
    if (!run) {
      return;
    }
    const files = await this.call("minion.runFiles", { runId: run.id });
    if (!files) {
      return;
    }
    const root = run.repo ? vscode.Uri.file(run.repo) : vscode.workspace.workspaceFolders?.[0]?.uri;
    const entries = diffEntries(
      run.id,
      files.files,
      (path) => (root ? vscode.Uri.joinPath(root, path) : vscode.Uri.from({ scheme: SCHEME, path: "/" + path })),
      (parts) => vscode.Uri.from(parts),
    );
    const how = await openDiff(
      { execute: (command, ...args) => vscode.commands.executeCommand(command, ...args), all: () => vscode.commands.getCommands(true) },
      diffTitle(run.id, run.task),
      entries,
    );
    if (how === "none") {
      void vscode.window.showInformationMessage(`minion: run ${run.id} changed no file.`);
    }
  }

  // --- the live log --------------------------------------------------------------------------

  private logOf(runId: string): { channel: vscode.OutputChannel; follower: LogFollower; timer?: NodeJS.Timeout } {
    let log = this.logs.get(runId);
    if (!log) {
      const channel = vscode.window.createOutputChannel(`minion run ${runId}`);
      const follower = new LogFollower(
        (after) => this.call("minion.runLog", { runId, after }, true),
        (line) => channel.appendLine(line),
      );
      log = { channel, follower };
      this.logs.set(runId, log);
      this.disposables.push(channel);
    }
    return log;
  }

  /** Poll the run's log into its output channel while it is active, and once more when it ended. */
  private followLog(runId: string): void {
    const log = this.logOf(runId);
    if (log.timer) {
      return;
    }
    log.timer = setInterval(() => {
      const ended = !this.active.has(runId);
      void log.follower.poll().then(() => {
        if (ended) {
          clearInterval(log.timer);
          log.timer = undefined;
        }
      });
    }, 1_500);
  }

  async showLog(target: unknown): Promise<void> {
    const run = await this.target(target, "Show the log of which run?");
    if (!run) {
      return;
    }
    const log = this.logOf(run.id);
    log.channel.show(true);
    await log.follower.poll();
  }

  // --- a delegated selection, marked while its run works -----------------------------------------

  /**
   * After `minion.delegate`: a duplicate is asked about (then sent again with `force`); a
   * started selection's run marks the selection until it ends.
   */
  private async delegated(argument: Delegation, result: unknown, resend: (forced: Delegation) => Promise<unknown>): Promise<unknown> {
    if (isDuplicate(result)) {
      const choice = await vscode.window.showWarningMessage(
        `minion run ${result.duplicateOf} (${result.status}) already works on this. Start another run?`,
        { modal: true },
        "Show Run",
        "Start Another",
      );
      if (choice === "Show Run") {
        await this.reveal(result.duplicateOf);
        return result;
      }
      if (choice !== "Start Another") {
        return result;
      }
      argument = { ...argument, force: true } as Delegation;
      result = await resend(argument);
    }
    const started = result as StartedRun | undefined;
    if (started?.runId && (argument.kind ?? "selection") === "selection" && this.client) {
      const selected = this.client.protocol2CodeConverter.asRange(argument.range);
      // Whole lines are marked: a selection that ends at a line's start does not take that line.
      const range = selected.end.character === 0 && selected.end.line > selected.start.line ? new vscode.Range(selected.start, selected.end.translate(-1)) : selected;
      if (!selected.isEmpty) {
        this.selections.set(started.runId, { uri: argument.uri, range });
        this.decorateSelections();
      }
    }
    if (started?.runId) {
      this.tree.refreshSoon(100);
    }
    return result;
  }

  private decorateSelections(): void {
    for (const editor of vscode.window.visibleTextEditors) {
      const uri = editor.document.uri.toString();
      const marked = [...this.selections.entries()]
        .filter(([, selection]) => selection.uri === uri) // until its run ends (runStatus)
        .map(([runId, selection]) => ({ range: selection.range, hoverMessage: `minion run ${runId} works on this selection` }));
      editor.setDecorations(this.selectionDecoration, marked);
    }
  }

  // --- commands ----------------------------------------------------------------------------

  /** Delegate the selection (or the cursor's place) with an instruction, asked for when not given. */
  async delegateSelection(instruction?: string): Promise<StartedRun | undefined> {
    const editor = vscode.window.activeTextEditor;
    if (!editor) {
      void vscode.window.showWarningMessage("minion: open a file and select the code to delegate.");
      return undefined;
    }
    const client = this.ready();
    const text = client && (instruction ?? (await promptInstruction()));
    if (!client || !text) {
      return undefined;
    }
    const convert = client.code2ProtocolConverter;
    const argument = selectionDelegation(convert.asUri(editor.document.uri), convert.asRange(editor.selection), text, {
      text: editor.document.getText(editor.selection),
      version: editor.document.version,
    });
    const result = await this.delegated(argument, await this.execute("minion.delegate", [argument]), (forced) =>
      this.execute("minion.delegate", [forced]),
    );
    const started = isDuplicate(result) ? undefined : (result as StartedRun | undefined);
    if (started) {
      vscode.window.setStatusBarMessage(`minion: run ${started.runId} ${started.status} on ${started.branch}`, 5_000);
    }
    return started;
  }

  async handOffTodos(): Promise<void> {
    const editor = vscode.window.activeTextEditor;
    const client = editor && this.ready();
    if (!editor || !client) {
      return;
    }
    const patterns = this.markers ?? [];
    const uri = client.code2ProtocolConverter.asUri(editor.document.uri);
    // The server tells real TODO comments from markers in strings: ask it on each candidate line.
    const actions = [];
    for (const line of todoCandidateLines(editor.document.getText(), patterns)) {
      const cursor = { line, character: 0 };
      const offered = await client.sendRequest(CodeActionRequest.type, {
        textDocument: { uri },
        range: { start: cursor, end: cursor },
        context: { diagnostics: [], only: ["quickfix"] },
      });
      actions.push(...(offered ?? []));
    }
    const handOffs = todoHandOffs(actions);
    if (handOffs.length === 0) {
      void vscode.window.showInformationMessage(`minion: no TODO for minion in this file (markers: ${patterns.join(", ")}).`);
      return;
    }
    const started = [];
    for (const command of handOffs) {
      const argument = command.arguments?.[0] as Delegation;
      const result = await this.delegated(argument, await this.execute("minion.delegate", [argument]), (forced) =>
        this.execute("minion.delegate", [forced]),
      );
      if (result && !isDuplicate(result)) {
        started.push((result as StartedRun).runId);
      }
    }
    void vscode.window.showInformationMessage(`minion: handed off ${started.length} TODO(s): run ${started.join(", ")}.`);
  }

  async showRuns(): Promise<void> {
    const runs = await this.execute("minion.runs", [{ scope: "workspace" }]);
    if (!runs) {
      return;
    }
    if (runs.length === 0) {
      void vscode.window.showInformationMessage("minion: no runs yet. Select code and run Minion: Delegate…");
      return;
    }
    const picked = await vscode.window.showQuickPick(
      runs.map((run) => ({ ...describeRun(run), run })),
      { placeHolder: "minion runs, newest first", matchOnDescription: true, matchOnDetail: true },
    );
    if (!picked) {
      return;
    }
    const action = await vscode.window.showQuickPick(
      runActions(picked.run).map((runAction) => ({ label: runAction.label, runAction })),
      { placeHolder: `run ${picked.run.id}: ${picked.run.task.split("\n")[0]}` },
    );
    if (action) {
      await this.execute(action.runAction.command, action.runAction.arguments);
    }
  }

  async cancelRun(runId?: string): Promise<void> {
    if (runId) {
      const cancelled = await this.execute("minion.cancel", [runId]);
      if (cancelled) {
        vscode.window.setStatusBarMessage(`minion: run ${cancelled.runId} ${cancelled.status}`, 5_000);
      }
      return;
    }
    const active = (await this.execute("minion.runs", [{ scope: "workspace" }]))?.filter(isActive);
    if (!active) {
      return;
    }
    if (active.length === 0) {
      void vscode.window.showInformationMessage("minion: no run is active.");
      return;
    }
    const picked =
      active.length === 1
        ? { run: active[0] }
        : await vscode.window.showQuickPick(
            active.map((run) => ({ ...describeRun(run), run })),
            { placeHolder: "Cancel which minion run?" },
          );
    if (picked) {
      await this.execute("minion.cancel", [picked.run.id]);
    }
  }

  dispose(): void {
    this.logs.forEach((log) => clearInterval(log.timer));
    void this.stop();
    this.disposables.forEach((disposable) => disposable.dispose());
  }
}

function minionSection(): Record<string, unknown> | undefined {
  return vscode.workspace.getConfiguration().get<Record<string, unknown>>("minion");
}

function promptInstruction(): Thenable<string | undefined> {
  return vscode.window.showInputBox({
    title: "Delegate to minion",
    prompt: "What should minion do with the selected code? It works on a branch; your files stay as they are.",
    placeHolder: "e.g. handle the empty list and add a test",
    ignoreFocusOut: true,
    validateInput: (value) => (value.trim() ? undefined : "Say what to do"),
  });
}
