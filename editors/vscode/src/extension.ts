// The VS Code side of minion: starts `minion serve` with the right Python, and adds what
// the protocol leaves to the editor (docs/lsp.md): the instruction prompt, the runs list,
// a status-bar item and a few commands. Code actions, diagnostics, quick fixes and
// progress come from the server through vscode-languageclient unchanged.

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
  State,
} from "vscode-languageclient/node";
import { needsInstruction, selectionDelegation, todoCandidateLines, todoHandOffs, todoPatterns } from "./delegate";
import { Interpreter, PythonEnvironments, findInterpreter, findProjectPython, probe, serverCommand } from "./interpreter";
import { describeRun, isActive, runActions, statusBarText } from "./runs";
import { initializationOptions, serverSettings } from "./settings";
import type { Command, CommandResults, Notifications, RunStatus, StartedRun } from "./wire";

export function activate(context: vscode.ExtensionContext): void {
  const minion = new Minion();
  context.subscriptions.push(
    minion,
    vscode.commands.registerCommand("minion.delegateSelection", (instruction?: string) => minion.delegateSelection(instruction)),
    vscode.commands.registerCommand("minion.handOffTodos", () => minion.handOffTodos()),
    vscode.commands.registerCommand("minion.showRuns", () => minion.showRuns()),
    vscode.commands.registerCommand("minion.cancelRun", () => minion.cancelRun()),
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
  private readonly disposables: vscode.Disposable[] = [this.output, this.statusItem];

  constructor() {
    this.statusItem.command = "minion.showRuns";
    this.statusItem.name = "Minion";
    this.showActive(0, "minion");
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
    this.markers ??= todoPatterns(client.initializeResult?.capabilities.experimental); // unless changed since
    const runs = await this.execute("minion.runs", []);
    this.showActive(runs?.filter(isActive).length ?? 0, "minion: ready");
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
        // "Delegate to minion…" arrives without an instruction: ask for it.
        executeCommand: async (command, args, next) => {
          if (command === "minion.delegate" && needsInstruction(args[0])) {
            const instruction = await promptInstruction();
            if (!instruction) {
              return undefined;
            }
            args = [{ ...args[0], instruction }];
          }
          return next(command, args);
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
  private async execute<C extends Command>(command: C, args: unknown[]): Promise<CommandResults[C] | undefined> {
    const client = this.ready();
    if (!client) {
      return undefined;
    }
    try {
      return (await client.sendRequest(ExecuteCommandRequest.type, { command, arguments: args })) as CommandResults[C];
    } catch (error) {
      this.output.appendLine(`${command} failed: ${String(error)}`);
      if (!(error instanceof ResponseError && error.code === ErrorCodes.InvalidParams)) {
        void vscode.window.showErrorMessage(`minion: ${command} failed: ${String(error)}`);
      }
      return undefined;
    }
  }

  // --- status ----------------------------------------------------------------------------

  private runStatus(status: RunStatus): void {
    const node = status.node ? ` (${status.node})` : "";
    this.showActive(status.active, `minion run ${status.id}: ${status.status}${node} on ${status.branch ?? "no branch"}`);
  }

  private showActive(active: number, tooltip: string): void {
    this.statusItem.text = statusBarText(active);
    this.statusItem.tooltip = `${tooltip}\nClick to show minion's runs.`;
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
    const argument = selectionDelegation(convert.asUri(editor.document.uri), convert.asRange(editor.selection), text);
    const started = await this.execute("minion.delegate", [argument]);
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
      const result = await this.execute("minion.delegate", command.arguments ?? []);
      if (result) {
        started.push(result.runId);
      }
    }
    void vscode.window.showInformationMessage(`minion: handed off ${started.length} TODO(s): run ${started.join(", ")}.`);
  }

  async showRuns(): Promise<void> {
    const runs = await this.execute("minion.runs", []);
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

  async cancelRun(): Promise<void> {
    const active = (await this.execute("minion.runs", []))?.filter(isActive);
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
