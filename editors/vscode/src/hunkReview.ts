// Per-hunk Apply in a run's diff (the `minion-run:` documents of review.ts): a CodeLens on
// each hunk of the head side ("Apply this change", or a check mark once your file has it),
// a hover with the same link on both sides (the multi-file diff editor shows hovers but
// no CodeLens), a line decoration on the head side, and "Apply This Change" in the
// editor's context menu for the hunk under the cursor. The server applies the hunk
// (`minion.applyHunk`, through workspace/applyEdit); what each shows is hunks.ts's.

import * as vscode from "vscode";
import type { Side } from "./contract";
import { SCHEME, parseRunFileUri } from "./review";
import type { RunFileRef } from "./review";
import { APPLY_HUNK, anchorLine, applyMessage, fileHunkStates, hunkAt, hunkDecoration, hunkHover, hunkLenses } from "./hunks";
import type { HunkState } from "./hunks";
import type { ApplyResult, FileChange, HunkSpan, RunFiles } from "./wire";

export interface HunkSource {
  files(runId: string): Promise<RunFiles | undefined>;
  fileAt(runId: string, path: string, side: Side): Promise<string | null | undefined>;
  apply(runId: string, index: number): Promise<ApplyResult | undefined>;
  /** The folder the run's paths are relative to (its repository). */
  root(runId: string): vscode.Uri | undefined;
}

/** The context key the diff's context menu item needs: a `minion-run:` editor is visible. */
export const REVIEWING = "minion.reviewingRun";

interface Hunks {
  file: FileChange;
  states: { span: HunkSpan; state: HunkState }[];
  userUri: vscode.Uri | undefined;
}

export class HunkReview implements vscode.CodeLensProvider, vscode.HoverProvider, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChangeCodeLenses = this.changed.event;
  private readonly files = new Map<string, Promise<RunFiles | undefined>>();
  private readonly texts = new Map<string, Promise<string | null | undefined>>();
  private readonly decoration = vscode.window.createTextEditorDecorationType({
    after: { color: new vscode.ThemeColor("editorCodeLens.foreground"), fontStyle: "italic" },
  });
  private timer: NodeJS.Timeout | undefined;
  private readonly disposables: vscode.Disposable[];

  constructor(private readonly source: HunkSource) {
    this.disposables = [
      this.changed,
      this.decoration,
      vscode.languages.registerCodeLensProvider({ scheme: SCHEME }, this),
      vscode.languages.registerHoverProvider({ scheme: SCHEME }, this),
      vscode.window.onDidChangeVisibleTextEditors(() => this.refreshSoon(0)),
      // Your edits (and an applied hunk) change what is applied: the lenses follow.
      vscode.workspace.onDidChangeTextDocument((event) => {
        if (event.document.uri.scheme === "file" && this.reviewing()) {
          this.refreshSoon();
        }
      }),
    ];
  }

  // --- what the run changed, cached per run (a run's branch only grows by a new run) ----------

  private runFiles(runId: string): Promise<RunFiles | undefined> {
    let files = this.files.get(runId);
    if (!files) {
      files = this.source.files(runId).then((found) => {
        if (!found) {
          this.files.delete(runId); // the server was not ready: ask again next time
        }
        return found;
      });
      this.files.set(runId, files);
    }
    return files;
  }

  private text(runId: string, path: string, side: Side): Promise<string | null | undefined> {
    const key = `${runId}\0${side}\0${path}`;
    let text = this.texts.get(key);
    if (!text) {
      text = this.source.fileAt(runId, path, side);
      this.texts.set(key, text);
    }
    return text;
  }

  /** The run's file a `minion-run:` document shows (a rename's base side has its old path). */
  private async fileOf(ref: RunFileRef): Promise<FileChange | undefined> {
    const files = await this.runFiles(ref.runId);
    return files?.files.find((file) => (ref.side === "base" && file.change === "renamed" ? file.old_path === ref.path : file.path === ref.path));
  }

  private async userText(uri: vscode.Uri | undefined): Promise<string | undefined> {
    if (!uri) {
      return undefined;
    }
    const open = vscode.workspace.textDocuments.find((document) => document.uri.toString() === uri.toString());
    if (open) {
      return open.getText();
    }
    try {
      return new TextDecoder().decode(await vscode.workspace.fs.readFile(uri));
    } catch {
      return undefined; // no such file
    }
  }

  /** The hunks of the file a `minion-run:` document shows, with whether your file has each. */
  async hunksOf(ref: RunFileRef): Promise<Hunks | undefined> {
    const file = await this.fileOf(ref);
    if (!file || !file.hunks || file.hunks.length === 0) {
      return undefined;
    }
    const root = this.source.root(ref.runId);
    const userUri = root ? vscode.Uri.joinPath(root, file.path) : undefined;
    const basePath = file.change === "renamed" && file.old_path ? file.old_path : file.path;
    const [base, head, user] = await Promise.all([
      this.text(ref.runId, basePath, "base"),
      this.text(ref.runId, file.path, "head"),
      this.userText(userUri),
    ]);
    return { file, states: fileHunkStates(file, base ?? null, head ?? null, user), userUri };
  }

  // --- the providers ---------------------------------------------------------------------

  async provideCodeLenses(document: vscode.TextDocument): Promise<vscode.CodeLens[]> {
    const ref = parseRunFileUri(document.uri);
    if (!ref || ref.side !== "head") {
      return [];
    }
    const hunks = await this.hunksOf(ref);
    if (!hunks) {
      return [];
    }
    return hunkLenses(ref.runId, hunks.file.path, hunks.states, "head", document.lineCount, hunks.userUri).map((lens) => {
      const line = document.lineAt(lens.line).range;
      return new vscode.CodeLens(line, { title: lens.title, command: lens.command, arguments: lens.arguments, tooltip: lens.tooltip });
    });
  }

  async provideHover(document: vscode.TextDocument, position: vscode.Position): Promise<vscode.Hover | undefined> {
    const ref = parseRunFileUri(document.uri);
    const hunks = ref && (await this.hunksOf(ref));
    if (!ref || !hunks) {
      return undefined;
    }
    const span = hunkAt(
      hunks.states.map((entry) => entry.span),
      ref.side,
      position.line,
      document.lineCount,
    );
    if (!span) {
      return undefined;
    }
    const k = hunks.states.findIndex((entry) => entry.span.index === span.index);
    const markdown = new vscode.MarkdownString(hunkHover(ref.runId, hunks.file.path, span, k + 1, hunks.states.length, hunks.states[k].state), true);
    markdown.isTrusted = { enabledCommands: [APPLY_HUNK] };
    return new vscode.Hover(markdown);
  }

  // --- the head side's decorations, and what refreshes them ---------------------------------

  private reviewing(): boolean {
    return vscode.window.visibleTextEditors.some((editor) => editor.document.uri.scheme === SCHEME);
  }

  /** Lenses, decorations and the context key again (soon: several edits make one). */
  refreshSoon(ms = 200): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.refresh(), ms);
  }

  async refresh(): Promise<void> {
    void vscode.commands.executeCommand("setContext", REVIEWING, this.reviewing());
    this.changed.fire();
    for (const editor of vscode.window.visibleTextEditors) {
      const ref = parseRunFileUri(editor.document.uri);
      if (!ref || ref.side !== "head") {
        continue;
      }
      const hunks = await this.hunksOf(ref);
      const lineCount = editor.document.lineCount;
      editor.setDecorations(
        this.decoration,
        (hunks?.states ?? []).map(({ span, state }) => {
          const line = editor.document.lineAt(anchorLine(span, "head", lineCount)).range;
          return { range: new vscode.Range(line.end, line.end), renderOptions: { after: { contentText: hunkDecoration(state) } } };
        }),
      );
    }
  }

  /** A run's branch moved (a new round ended): its files and texts are read again. */
  forget(runId?: string): void {
    for (const key of [...this.files.keys()]) {
      if (!runId || key === runId) {
        this.files.delete(key);
      }
    }
    for (const key of [...this.texts.keys()]) {
      if (!runId || key.startsWith(runId + "\0")) {
        this.texts.delete(key);
      }
    }
    this.refreshSoon(0);
  }

  // --- the commands --------------------------------------------------------------------------

  /** "Apply this change": hunk `index` of run `runId` goes to your file through the server. */
  async apply(runId: string, index: number): Promise<ApplyResult | undefined> {
    const result = await this.source.apply(runId, index);
    const files = await this.runFiles(runId);
    const path = files?.files.find((file) => file.hunks?.some((span) => span.index === index))?.path ?? "your file";
    const said = applyMessage(result, path);
    if (said?.warn) {
      void vscode.window.showWarningMessage(said.text);
    } else if (said) {
      vscode.window.setStatusBarMessage(said.text, 5_000);
    }
    await this.refresh();
    return result;
  }

  /** "Apply This Change" from the diff's context menu: the hunk under the cursor. */
  async applyAtCursor(): Promise<ApplyResult | undefined> {
    const editor = vscode.window.activeTextEditor;
    const ref = editor && parseRunFileUri(editor.document.uri);
    const hunks = ref && (await this.hunksOf(ref));
    const span =
      editor &&
      ref &&
      hunks &&
      hunkAt(
        hunks.states.map((entry) => entry.span),
        ref.side,
        editor.selection.active.line,
        editor.document.lineCount,
      );
    if (!ref || !span) {
      void vscode.window.showInformationMessage("minion: put the cursor on a change of a minion run's diff to apply it.");
      return undefined;
    }
    return this.apply(ref.runId, span.index);
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.disposables.forEach((disposable) => disposable.dispose());
  }
}
