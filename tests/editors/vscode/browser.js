// The browser side of tests/editors/test_vscode.py: opens code-server's workbench in
// Debian's headless Chromium, then does what the driver extension asks (want-<x> files in
// the output folder, want-<x>#<n> for the same again) until the driver writes result.json:
// the user's clicks and keys (the instruction, the diff's hover link, the runs view's
// actions, the discard dialog) and the screenshots.
//   NODE_PATH=editors/vscode/node_modules node browser.js URL OUT_DIR SCREENSHOT INSTRUCTION
// (playwright-core is a dev dependency of the extension).
const { existsSync, readFileSync, readdirSync, writeFileSync } = require("node:fs");
const { join } = require("node:path");
const { chromium } = require("playwright-core");

const [url, out, screenshot, instruction] = process.argv.slice(2);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitUntil(probe, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await sleep(200);
  }
}

/** Do `act` until `target` shows (at most `times` times, `timeoutMs` each): a click or key that may not take. */
async function actUntilVisible(target, times, timeoutMs, act) {
  for (let attempt = 1; !(await target.isVisible()); attempt++) {
    await act();
    await target.waitFor({ state: "visible", timeout: timeoutMs }).catch((error) => {
      if (attempt === times) {
        throw error;
      }
    });
  }
}

/** Drag the sidebar's edge (its sash) until the sidebar is `width` pixels wide (room for the rows' progress, or for the diff). */
async function sidebarWidth(page, width) {
  const box = await page.locator(".part.sidebar").boundingBox();
  if (!box || Math.abs(box.width - width) < 2) {
    return;
  }
  const edge = { x: box.x + box.width, y: box.y + box.height / 2 };
  await page.mouse.move(edge.x, edge.y);
  await page.mouse.down();
  await page.mouse.move(box.x + width, edge.y, { steps: 10 });
  await page.mouse.up();
}

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
    await actUntilVisible(menu, 3, 10000, async () => {
      await page.locator(".view-line", { hasText: line.trim() }).click();
      await page.keyboard.press("Control+.");
    });
    await sleep(500); // the menu fades in
    await page.screenshot({ path: screenshot });
    await page.keyboard.press("Escape");
  },
  // The runs view (the sidebar) shows the run whose task is named, until its row matches
  // `until` (a regular expression: its node and turn while it works): say what its rows
  // say; `shot`: a screenshot of it.
  runs: async (page, detail) => {
    const { task, until, shot } = JSON.parse(detail);
    const rows = page.locator(".part.sidebar .monaco-list-row");
    const row = rows.filter({ hasText: task }).first();
    await row.waitFor({ state: "visible", timeout: 30000 });
    if (until) {
      const pattern = new RegExp(until);
      await waitUntil(async () => pattern.test((await row.innerText()).replace(/\u00a0/g, " ")), 60000, `the row of "${task}" to match /${until}/`);
    }
    if (shot) {
      await sidebarWidth(page, 600);
      await sleep(1000); // the icons settle
      await page.screenshot({ path: join(out, shot) });
    }
    return (await rows.allInnerTexts()).join("\n").replace(/\u00a0/g, " ");
  },
  // Hover a line of the diff's head side: the hover has the hunk's link; a screenshot, then click it.
  hunk: async (page, detail) => {
    const { line, link } = JSON.parse(detail);
    await sidebarWidth(page, 420); // the diff gets the room
    const target = page.locator(".part.editor .multiDiffEditor .editor.modified .view-line", { hasText: line.trim() }).first();
    await target.waitFor({ state: "visible", timeout: 30000 });
    const hover = page.locator(".monaco-hover").filter({ hasText: link });
    await actUntilVisible(hover, 4, 5000, async () => {
      await page.mouse.move(5, 5);
      await target.hover({ position: { x: 12, y: 5 } }); // on its first characters
    });
    await sleep(500);
    await page.screenshot({ path: join(out, "diff.png") });
    const said = (await hover.innerText()).replace(/\u00a0/g, " ");
    await hover.locator("a", { hasText: link }).first().click();
    return said;
  },
  // Right-click a line of the diff's head side: say the context menu's items, and pick
  // the one named `pick` (highlighted, then Enter), if any.
  menu: async (page, detail) => {
    const { line, pick } = JSON.parse(detail);
    const target = page.locator(".part.editor .multiDiffEditor .editor.modified .view-line", { hasText: line.trim() }).first();
    await page.mouse.move(5, 5);
    await target.click({ button: "right", position: { x: 12, y: 5 } });
    const menu = page.locator(".context-view .monaco-menu").first();
    await menu.waitFor({ state: "visible", timeout: 10000 });
    const items = await menu.locator(".action-label").allInnerTexts();
    if (pick && items.includes(pick)) {
      await menu.locator(".action-item", { hasText: pick }).first().hover();
      await page.keyboard.press("Enter");
    } else {
      await page.keyboard.press("Escape");
    }
    return items.join("\n");
  },
  // "Revise with Feedback…" on the run's row (an inline action), then the feedback typed in.
  revise: async (page, detail) => {
    const { task, feedback } = JSON.parse(detail);
    const row = page.locator(".part.sidebar .monaco-list-row").filter({ hasText: task }).first();
    await row.hover();
    await row.locator('.action-label[aria-label^="Revise with Feedback"]').click();
    const input = page.locator(".quick-input-widget input");
    await input.waitFor({ state: "visible", timeout: 30000 });
    await input.fill(feedback);
    await input.press("Enter");
  },
  // "Discard Run…" from the run's context menu; the dialog is read, then confirmed.
  discard: async (page, detail) => {
    const { task, button } = JSON.parse(detail);
    const row = page.locator(".part.sidebar .monaco-list-row").filter({ hasText: task }).first();
    const dialog = page.locator(".monaco-dialog-box");
    // The menu item is picked with the keyboard once highlighted (a menu may let a click
    // that comes right after it opened go by); again if no dialog comes.
    const menu = page.locator(".context-view .monaco-menu");
    await actUntilVisible(dialog, 3, 10000, async () => {
      if (await menu.isVisible()) {
        await page.keyboard.press("Escape");
      }
      await row.click({ button: "right" });
      const item = menu.locator(".action-item", { hasText: "Discard Run" }).first();
      // Not offered (a menu of the row as it was a moment ago): closed, and again.
      const offered = await item.hover({ timeout: 5000 }).then(() => true, () => false);
      await page.keyboard.press(offered ? "Enter" : "Escape");
    });
    const message = await dialog.locator(".dialog-message-text").innerText();
    const more = await dialog.locator(".dialog-message-detail").allInnerTexts();
    await dialog.locator(".monaco-button", { hasText: new RegExp(`^${button}$`) }).first().click();
    return JSON.stringify({ message, detail: more.join("\n") });
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
    // want-<what>, or want-<what>#<n> for the same again
    for (const name of readdirSync(out).filter((file) => file.startsWith("want-")).map((file) => file.slice(5))) {
      const handle = requests[name.split("#")[0]];
      if (handle && !done.has(name)) {
        done.add(name);
        const said = await handle(page, readFileSync(join(out, `want-${name}`), "utf8")).catch(async (error) => {
          await page.screenshot({ path: join(out, `failed-${name}.png`) }); // what the user would have seen
          throw error;
        });
        writeFileSync(join(out, `did-${name}`), said ?? "");
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
