// The browser side of tests/editors/test_vscode.py: opens code-server's workbench in
// Debian's headless Chromium, then does what the driver extension asks (want-<x> files in
// the output folder) until the driver writes result.json.
//   NODE_PATH=editors/vscode/node_modules node browser.js URL OUT_DIR SCREENSHOT INSTRUCTION
// (playwright-core is a dev dependency of the extension).
const { existsSync, readFileSync, writeFileSync } = require("node:fs");
const { join } = require("node:path");
const { chromium } = require("playwright-core");

const [url, out, screenshot, instruction] = process.argv.slice(2);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const requests = {
  // Type the instruction into the extension's input box, as the user would.
  instruction: async (page) => {
    const input = page.locator(".quick-input-widget input");
    await input.waitFor({ state: "visible", timeout: 30000 });
    await input.fill(instruction);
    await input.press("Enter");
  },
  // Open the quick fixes on the line named (the diagnostic's) as the user would: click on
  // it, then Ctrl+. (again if the menu does not come: the editor may not have had focus).
  screenshot: async (page, line) => {
    const menu = page.locator(".action-widget");
    for (let attempt = 1; !(await menu.isVisible()); attempt++) {
      await page.locator(".view-line", { hasText: line.trim() }).click();
      await page.keyboard.press("Control+.");
      await menu.waitFor({ state: "visible", timeout: 10000 }).catch((error) => {
        if (attempt === 3) {
          throw error;
        }
      });
    }
    await sleep(500); // the menu fades in
    await page.screenshot({ path: screenshot });
    await page.keyboard.press("Escape");
  },
  // The runs view (the sidebar) shows the run whose task is named: say what its row says.
  runs: async (page, task) => {
    const rows = page.locator(".part.sidebar .monaco-list-row");
    const row = rows.filter({ hasText: task }).first();
    await row.waitFor({ state: "visible", timeout: 30000 });
    const before = await rows.count();
    await row.click(); // expands it: its nodes
    await rows.nth(before).waitFor({ state: "visible", timeout: 10000 }).catch(() => undefined);
    await sleep(1000); // the icons settle
    await page.screenshot({ path: join(out, "runs.png") });
    return (await page.locator(".part.sidebar .monaco-list-row").allInnerTexts()).join("\n");
  },
  // While a run works: the status bar's texts (its title), and a screenshot of the
  // delegated selection's highlight.
  live: async (page) => {
    await sleep(300);
    await page.screenshot({ path: join(out, "live.png") });
    return (await page.locator(".part.statusbar .statusbar-item").allInnerTexts()).join("\n").replace(/\u00a0/g, " ");
  },
  // The run's log is in the output panel: say its lines.
  log: async (page) => {
    const lines = page.locator(".part.panel .output-view .view-line");
    await lines.first().waitFor({ state: "visible", timeout: 15000 }).catch(() => undefined);
    await sleep(500);
    return (await lines.allInnerTexts()).join("\n").replace(/\u00a0/g, " "); // the editor renders spaces as nbsp
  },
  // The multi-file diff editor (else a diff editor) is open: say which.
  diff: async (page) => {
    const editor = page.locator(".part.editor .multiDiffEditor, .part.editor .monaco-diff-editor").first();
    if (!(await editor.waitFor({ state: "visible", timeout: 30000 }).then(() => true, () => false))) {
      return "none"; // the test says so
    }
    await sleep(2000); // the diffs compute and render
    await page.screenshot({ path: join(out, "diff.png") });
    return (await page.locator(".part.editor .multiDiffEditor").count()) > 0 ? "multiDiffEditor" : "diffEditor";
  },
};

/** Open the workbench, then do what the driver asks until it is done. */
async function follow(page) {
  page.on("console", (message) => {
    if (message.type() === "error") {
      console.error(`workbench: ${message.text()}`);
    }
  });
  await page.goto(url);
  const done = new Set();
  while (!existsSync(join(out, "result.json"))) {
    for (const [what, handle] of Object.entries(requests)) {
      const wanted = join(out, `want-${what}`);
      if (!done.has(what) && existsSync(wanted)) {
        const said = await handle(page, readFileSync(wanted, "utf8"));
        done.add(what);
        writeFileSync(join(out, `did-${what}`), said ?? "");
      }
    }
    await sleep(200);
  }
}

async function main() {
  const browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu"],
  });
  try {
    await follow(await browser.newPage({ viewport: { width: 1280, height: 800 } }));
  } finally {
    await browser.close();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
