-- The Neovim end-to-end check, run by tests/editors/test_neovim.py as the init file of a
-- headless Neovim (0.7 or 0.11) opened on calc/ops.py of a temp git repo:
--   nvim --headless -u e2e.lua calc/ops.py
-- It does what a user does with the plugin: delegate a line range with an instruction,
-- hand off a TODO, apply each result's quick fix through the code-action menu, open a
-- run's report from :MinionRuns, and pick "Delegate to minion…" on a range (the plugin
-- asks for the instruction). With MINION_E2E_ONE_RUN it only delegates a line and waits for
-- the run to end: the test then reads what the run got. With MINION_E2E_PATTERNS (a repo
-- whose config has its own TODO marker, unknown to the plugin's settings) it checks the
-- server sent that marker at initialize, hands off `:%MinionTodo` with it, and reads the
-- run's line and actions in :MinionRuns, and discards it there (asked, naming the branch).
-- With MINION_E2E_TYPING it types in insert mode while a run ends (no prompt may take a
-- key). With MINION_E2E_REVIEW it opens the diff split from :MinionRuns (`d`); with
-- MINION_E2E_REVISE too, it hands off the same TODO again (asked; "Show run"), then
-- revises with :MinionRevise and with `r`. With MINION_E2E_HUNKS it checks a delegated
-- selection's mark and :MinionLog while the run works, applies one hunk with `a` in the diff
-- split, revises, and lists every repository's runs (:MinionRuns!, `A`). With
-- MINION_E2E_TRUST it answers the server's question about the repository's own blueprints
-- with :MinionAnswer. The main scenario follows a run live in :MinionRuns and opens a
-- report from it (formatted). No scenario may see a modal end-of-run prompt.
-- Any failure exits with `cquit 1` and a message on stderr.
-- Environment: MINION_E2E_PLUGIN (editors/nvim), MINION_E2E_PYTHON, MINION_E2E_MODEL (the
-- scripted model), MINION_E2E_SUMMARY (what it says when done), and when set,
-- MINION_E2E_PROJECT_PYTHON (settings.python) and MINION_E2E_HOST_PROG (g:python3_host_prog).

vim.opt.runtimepath:prepend(os.getenv("MINION_E2E_PLUGIN"))
vim.opt.swapfile = false
vim.g.python3_host_prog = os.getenv("MINION_E2E_HOST_PROG")

-- A plugin that fails to load fails the test at once (headless Neovim would otherwise wait
-- for the test's timeout).
local loaded, load_error = pcall(function()
  require("minion").setup({
    python = os.getenv("MINION_E2E_PYTHON"),
    settings = { model = os.getenv("MINION_E2E_MODEL"), python = os.getenv("MINION_E2E_PROJECT_PYTHON") },
  })
end)
if not loaded then
  io.stderr:write("e2e: FAILED: the plugin did not load: " .. tostring(load_error) .. "\n")
  vim.cmd("cquit! 1")
end

local lsp = require("minion.lsp")
local RUN_TIMEOUT_MS = 120000

local function log(message)
  io.stderr:write("e2e: " .. message .. "\n")
end

local function check(condition, message, ...)
  if not condition then
    error(message:format(...), 2)
  end
end

local function wait_for(what, predicate, timeout_ms)
  local value
  local done = vim.wait(timeout_ms or 20000, function()
    value = predicate()
    return value
  end, 50)
  check(done, "timed out waiting for %s", what)
  return value
end

-- The user's answers to the menus the test opens, in order. The end of a run
-- (window/showMessageRequest) must never ask: the plugin only tells it (vim.notify); a
-- menu for it (Neovim's own handler asks with vim.ui.select on 0.10+) is a failure.
local answers = {}
local modal_prompts = {}
vim.ui.select = function(items, opts, on_choice)
  if opts.kind == "lsp_message" then
    table.insert(modal_prompts, opts.prompt or "?")
    return on_choice(nil)
  end
  local answer = table.remove(answers, 1)
  check(answer, "an unexpected choice: %s", opts.prompt or "?")
  for _, item in ipairs(items) do
    local title = opts.format_item and opts.format_item(item) or tostring(item)
    if title:find(answer, 1, true) then
      return on_choice(item)
    end
  end
  local offered = vim.tbl_map(opts.format_item or tostring, items)
  error(("no choice like %q among: %s"):format(answer, table.concat(offered, " | ")))
end
-- The user's answers to the plugin's prompts for an instruction, in order.
local instructions = {}
vim.ui.input = function(opts, on_confirm)
  local answer = table.remove(instructions, 1)
  check(answer, "an unexpected prompt: %s", opts.prompt or "?")
  on_confirm(answer)
end

local function minion_diagnostics(bufnr, run_id)
  return vim.tbl_filter(function(d)
    return d.source == "minion" and d.code == run_id
  end, vim.diagnostic.get(bufnr))
end

local function buffer_text(bufnr)
  return table.concat(vim.api.nvim_buf_get_lines(bufnr, 0, -1, true), "\n") .. "\n"
end

local function git_show(branch, path)
  local out = vim.fn.system({ "git", "show", branch .. ":" .. path })
  check(vim.v.shell_error == 0, "git show %s:%s failed: %s", branch, path, out)
  return out
end

-- Progress seen while runs work: the plugin's status line, and Neovim's own events.
local seen = { status = false, progress_events = 0 }
local progress_event = vim.fn.exists("##LspProgress") == 1 and "LspProgress" or "User"
vim.api.nvim_create_autocmd(progress_event, {
  pattern = progress_event == "User" and "LspProgressUpdate" or "*",
  callback = function()
    seen.progress_events = seen.progress_events + 1
  end,
})

--- Wait for the run started last to end; return its id and final status.
local function finished_run(previous)
  local run_id = wait_for("a new run", function()
    return lsp.state.latest ~= previous and lsp.state.latest
  end)
  wait_for("run " .. run_id .. " to end", function()
    local line = require("minion").status()
    check(vim.fn.strdisplaywidth(line) <= 60, "the status line's part is %d wide: %q", vim.fn.strdisplaywidth(line), line)
    seen.status = seen.status or line:find("minion: 1 active", 1, true) ~= nil
    local status = lsp.state.runs[run_id]
    if not status.ended and type(status.title) == "string" and status.title ~= "" then
      seen.titles = (seen.titles or 0) + 1
      local shown = line:match("active · (.*)$") or ""
      check(vim.startswith(status.title, (shown:gsub("…$", ""))), "the status line %q, the server's title %q", line, status.title)
    end
    local status = lsp.state.runs[run_id].status
    return status ~= "queued" and status ~= "running"
  end, RUN_TIMEOUT_MS)
  return run_id, lsp.state.runs[run_id]
end

--- The run's one diagnostic; apply its quick fix from the code-action menu, and check the
--- buffer then equals the run's branch.
local function apply_the_fix(bufnr, run_id, status, line)
  local found = wait_for("run " .. run_id .. "'s diagnostics", function()
    local diagnostics = minion_diagnostics(bufnr, run_id)
    return #diagnostics > 0 and diagnostics
  end)
  check(#found == 1, "one diagnostic expected, got %s", vim.inspect(found))
  local diagnostic = found[1]
  check(diagnostic.lnum == line, "diagnostic on line %d, expected %d", diagnostic.lnum, line)
  check(diagnostic.severity == vim.diagnostic.severity.INFO, "severity %s", diagnostic.severity)
  local summary = os.getenv("MINION_E2E_SUMMARY")
  check(diagnostic.message:find(summary, 1, true), "diagnostic message: %s", diagnostic.message)

  vim.api.nvim_win_set_cursor(0, { line + 1, 0 })
  local before = buffer_text(bufnr)
  table.insert(answers, "Apply this change (minion " .. run_id .. ")")
  vim.lsp.buf.code_action()
  wait_for("the fix to apply", function()
    return buffer_text(bufnr) ~= before
  end)
  local branch_text = git_show(status.branch, "calc/ops.py")
  check(buffer_text(bufnr) == branch_text, "buffer:\n%s\nbranch %s:\n%s", buffer_text(bufnr), status.branch, branch_text)
  log(("run %s: diagnostic on line %d, fix applied, buffer equals %s"):format(run_id, line, status.branch))
end

local function checkhealth()
  vim.cmd("checkhealth minion")
  local report = table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, true), "\n")
  vim.cmd("bwipeout")
  check(not report:find("ERROR"), "checkhealth reports an error:\n%s", report)
  local expected_lines = {
    "git: ", "bwrap: ", "(minion ", "project's Python: ", "scripted: no API key needed", "server running for ",
  }
  for _, expected in ipairs(expected_lines) do
    check(report:find(expected, 1, true), "checkhealth lacks %q:\n%s", expected, report)
  end
end

local function attached_client(bufnr)
  return wait_for("the minion client", function()
    local attached = lsp.client(bufnr)
    return attached and attached.initialized and attached
  end)
end

local function one_run()
  attached_client(vim.api.nvim_get_current_buf())
  vim.cmd("2MinionDelegate fix it")
  local run_id, run = finished_run(nil)
  log(("run %s ended %s"):format(run_id, run.status))
end

--- A key pressed in the current buffer, its mappings included.
local function press(keys)
  vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes(keys, true, false, true), "mx", false)
end

--- :MinionRuns (its window, once open), wait for the run's row to show `text`, and put
--- the cursor on it; returns the row's text.
local function runs_view_row(run_id, text)
  local view = vim.fn.bufnr("^minion://runs/")
  if view == -1 or vim.fn.bufwinid(view) == -1 then
    vim.cmd("MinionRuns")
  else
    vim.api.nvim_set_current_win(vim.fn.bufwinid(view))
  end
  view = vim.api.nvim_get_current_buf()
  check(vim.api.nvim_buf_get_name(view):find("minion://runs/", 1, true), "not the runs view: %s", vim.api.nvim_buf_get_name(view))
  check(vim.bo[view].buftype == "nofile" and not vim.bo[view].modifiable, "the runs view is no scratch buffer")
  local row, line = wait_for(("run %s's row with %q"):format(run_id, text), function()
    for i, l in ipairs(vim.api.nvim_buf_get_lines(view, 0, -1, true)) do
      if l:find(run_id, 1, true) == 1 and l:find(text, 1, true) then
        return { i, l }
      end
    end
  end)
  row, line = row[1], row[2]
  vim.api.nvim_win_set_cursor(0, { row, 0 })
  return line
end

-- The TODO markers come from the server (the repo's config says FIXME(minion)); the runs
-- list shows when a run started in local time, and the actions the server offers.
local function patterns()
  local bufnr = vim.api.nvim_get_current_buf()
  local client = attached_client(bufnr)
  local markers = lsp.todo_patterns(client)
  check(vim.deep_equal(markers, { "FIXME(minion)" }), "the server's TODO markers: %s", vim.inspect(markers))
  vim.cmd("%MinionTodo")
  local run_id, run = finished_run(nil)
  check(run.status == "ok" and run.ended, "run %s: %s", run_id, vim.inspect(run))
  log(("run %s ended ok, handed off with the server's marker"):format(run_id))

  local listed = lsp.request_sync(client, "workspace/executeCommand", { command = "minion.runs" }, 5000, bufnr)
  local row = listed.result[1]
  check(row.id == run_id, "the newest run is %s, not %s", row.id, run_id)
  local line = runs_view_row(run_id, "  ok")
  local when = os.date("%Y-%m-%d %H:%M", math.floor(row.created_at))
  check(line:find(run_id .. "  " .. when .. "  ok", 1, true), "the runs view shows %q", line)
  check(line:find(row.branch, 1, true) and line:find("make mul() multiply", 1, true), "the runs view shows %q", line)
  check(not line:find(tostring(math.floor(row.created_at)), 1, true), "a raw time in %q", line)
  check(vim.deep_equal(row.actions, { "minion.openReport", "minion.apply", "minion.discard" }), "actions %s", vim.inspect(row.actions))
  log("runs view: " .. line)

  -- A key the run does not offer says so and does nothing; discard asks, naming the branch.
  press("c")
  local asked = {}
  vim.ui.select = function(items, opts, on_choice)
    check(opts.kind ~= "lsp_message", "a modal prompt: %s", opts.prompt)
    table.insert(asked, opts.prompt)
    on_choice(items[1])
  end
  press("X")
  check(#asked == 1 and asked[1]:find(row.branch, 1, true), "the discard question: %s", vim.inspect(asked))
  wait_for("the branch to go", function()
    return vim.fn.system({ "git", "branch", "--list", row.branch }) == ""
  end)
  log(("discarded %s after a question naming %s"):format(run_id, row.branch))
end

-- Review: the runs view's `d` opens the run's file at its base and head side by side in
-- diff mode; `:MinionRevise {feedback}` (no run on the cursor: the last run) sends it back,
-- a new run on the same branch (with MINION_E2E_REVISE).
local function review()
  local bufnr = vim.api.nvim_get_current_buf()
  attached_client(bufnr)
  local original = buffer_text(bufnr)
  vim.api.nvim_win_set_cursor(0, { 6, 0 })
  vim.cmd("MinionTodo")
  local run_id, run = finished_run(nil)
  check(run.status == "ok", "run %s ended %s", run_id, run.status)

  runs_view_row(run_id, "  ok")
  press("d")
  local base_buf = wait_for("the diff split", function()
    local name = ("minion://%s/base/calc/ops.py"):format(run_id)
    local found = vim.fn.bufnr("^" .. name .. "$")
    return found > 0 and vim.fn.bufwinid(found) ~= -1 and found
  end)
  local head_buf = vim.fn.bufnr(("^minion://%s/head/calc/ops.py$"):format(run_id))
  check(head_buf > 0 and vim.fn.bufwinid(head_buf) ~= -1, "no head window")
  for _, side in ipairs({ base_buf, head_buf }) do
    local win = vim.fn.bufwinid(side)
    check(vim.wo[win].diff, "%s is not in diff mode", vim.api.nvim_buf_get_name(side))
    check(vim.api.nvim_win_get_tabpage(win) == vim.api.nvim_get_current_tabpage(), "the diff is not in this tab")
    check(vim.bo[side].buftype == "nofile" and not vim.bo[side].modifiable, "not a scratch buffer")
  end
  check(buffer_text(base_buf) == original, "base:\n%s", buffer_text(base_buf))
  local head_text = git_show(run.branch, "calc/ops.py")
  check(buffer_text(head_buf) == head_text, "head:\n%s\nbranch:\n%s", buffer_text(head_buf), head_text)
  local windows = #vim.api.nvim_tabpage_list_wins(0)
  check(windows == 2, "the diff tab has %d windows", windows)
  log(("diff split of run %s: base and head of calc/ops.py"):format(run_id))
  vim.cmd("tabclose")
  if not os.getenv("MINION_E2E_REVISE") then
    return
  end

  -- The same TODO again: its run is unreviewed, so the plugin asks, and "Show run" puts
  -- the cursor on that run in :MinionRuns.
  vim.cmd("buffer " .. bufnr)
  vim.api.nvim_win_set_cursor(0, { 6, 0 })
  local asked = {}
  vim.ui.select = function(items, opts, on_choice)
    check(opts.kind ~= "lsp_message", "a modal prompt: %s", opts.prompt)
    table.insert(asked, opts.prompt)
    for _, item in ipairs(items) do
      if item:find("Show run " .. run_id, 1, true) then
        return on_choice(item)
      end
    end
    error("no Show run among " .. table.concat(items, " | "))
  end
  vim.cmd("MinionTodo")
  wait_for("run " .. run_id .. " shown in the runs view", function()
    local name = vim.api.nvim_buf_get_name(0)
    local line = vim.api.nvim_get_current_line()
    return name:find("minion://runs/", 1, true) and line:find(run_id, 1, true) == 1
  end)
  check(#asked == 1 and asked[1]:find(run_id, 1, true), "the duplicate question: %s", vim.inspect(asked))
  check(lsp.state.latest == run_id, "a duplicate run started: %s", tostring(lsp.state.latest))
  log(("the same TODO again: asked, showed run %s, started nothing"):format(run_id))

  -- :MinionRevise {feedback} from the file (no run on the cursor's line: the last run).
  vim.cmd("wincmd p")
  vim.cmd("buffer " .. bufnr)
  vim.cmd("MinionRevise also say why in a comment")
  local revised_id, revised = finished_run(run_id)
  check(revised.branch == run.branch, "the revision is on %s, not %s", tostring(revised.branch), run.branch)
  log(("revised %s as %s on %s, ended %s"):format(run_id, revised_id, revised.branch, revised.status))

  -- `r` on the revision's line in :MinionRuns asks for the feedback.
  runs_view_row(revised_id, revised.status)
  table.insert(instructions, "and keep it short")
  press("r")
  local again_id, again = finished_run(revised_id)
  check(#instructions == 0, "r asked no feedback")
  check(again.branch == run.branch, "the second revision is on %s", tostring(again.branch))
  log(("revised %s again from the runs view as %s"):format(revised_id, again_id))
end

--- The lines of a buffer, joined.
local function text_of(bufnr)
  return table.concat(vim.api.nvim_buf_get_lines(bufnr, 0, -1, true), "\n")
end

--- The row of the open runs view that starts with `run_id` (nil when it has none).
local function view_row(run_id)
  local view = vim.fn.bufnr("^minion://runs/")
  for _, line in ipairs(vim.api.nvim_buf_get_lines(view, 0, -1, true)) do
    if line:find(run_id, 1, true) == 1 then
      return line
    end
  end
end

-- Hunks: a selection's run changes add() and mul(); while it runs its lines are marked and
-- :MinionLog follows it live. `a` on mul()'s change in the diff split applies just that
-- hunk, and its diagnostic goes; :MinionRevise adds a commit on the same branch; `l` opens
-- the revision's log; :MinionRuns! lists another repository's run with a repo column, and
-- `A` goes back to this workspace's runs (MINION_E2E_OTHER_RUN: that run's id).
local function hunks()
  local marks = require("minion.marks")
  local bufnr = vim.api.nvim_get_current_buf()
  local file_win = vim.api.nvim_get_current_win()
  attached_client(bufnr)
  local original = vim.api.nvim_buf_get_lines(bufnr, 0, -1, true)

  -- The selection (lines 2-7) is marked while its run works (the model takes a while).
  vim.cmd("2,7MinionDelegate fix add and mul")
  local run_id = wait_for("the run to start", function()
    return lsp.state.latest
  end)
  local mark = wait_for("the selection's mark", function()
    return marks.shown()[run_id]
  end)
  check(not lsp.state.runs[run_id].ended, "run %s ended before its mark was seen", run_id)
  check(mark.bufnr == bufnr and mark.first == 1 and mark.last == 6, "the mark: %s", vim.inspect(mark))
  local extmarks = vim.api.nvim_buf_get_extmarks(bufnr, marks.namespace, 0, -1, {})
  check(#extmarks == 1, "extmarks of the selection: %s", vim.inspect(extmarks))
  log(("run %s: lines 2-7 marked while it runs"):format(run_id))

  -- :MinionLog (no id: the last run) follows it live, then says it ended.
  vim.cmd("MinionLog")
  local log_buf = wait_for("the log window", function()
    local found = vim.fn.bufnr("^minion://log/" .. run_id .. "$")
    return found > 0 and vim.fn.bufwinid(found) ~= -1 and found
  end)
  check(require("minion.log").live(log_buf), "the log does not follow the running run")
  check(vim.bo[log_buf].buftype == "nofile" and not vim.bo[log_buf].modifiable, "the log is no scratch buffer")
  local _, run = finished_run(nil)
  check(run.status == "ok", "run %s ended %s", run_id, run.status)
  wait_for("the mark to go", function()
    return not marks.shown()[run_id] and #vim.api.nvim_buf_get_extmarks(bufnr, marks.namespace, 0, -1, {}) == 0
  end)
  wait_for("the log to end", function()
    return not require("minion.log").live(log_buf)
  end)
  local log_text = text_of(log_buf)
  check(log_text:find("run started", 1, true) and log_text:find("run ended: ok", 1, true), "the log:\n%s", log_text)
  check(vim.api.nvim_buf_get_lines(log_buf, 0, 1, true)[1]:find("ended ok", 1, true), "the log's header: %s", log_text)
  log(("run %s: its mark went when it ended; :MinionLog followed it to the end"):format(run_id))
  vim.cmd("close")
  vim.api.nvim_set_current_win(file_win)

  -- Two changes, two diagnostics (add() on line 2, mul() on line 7).
  local function diagnostic_lines()
    local lines = vim.tbl_map(function(d)
      return d.lnum
    end, minion_diagnostics(bufnr, run_id))
    table.sort(lines)
    return table.concat(lines, ",")
  end
  wait_for("two diagnostics", function()
    return diagnostic_lines() == "1,6"
  end)

  -- :MinionRuns, `d`: the diff split; `a` on mul()'s change in the head side.
  runs_view_row(run_id, "  ok")
  press("d")
  local head_buf = wait_for("the diff split", function()
    local found = vim.fn.bufnr(("^minion://%s/head/calc/ops.py$"):format(run_id))
    return found > 0 and vim.fn.bufwinid(found) ~= -1 and found
  end)
  vim.api.nvim_set_current_win(vim.fn.bufwinid(head_buf))
  local mul_line
  for i, line in ipairs(vim.api.nvim_buf_get_lines(head_buf, 0, -1, true)) do
    if line == "    return a * b" then
      mul_line = i
    end
  end
  check(mul_line, "no fixed mul() in the head side:\n%s", text_of(head_buf))
  vim.api.nvim_win_set_cursor(0, { mul_line, 0 })
  press("a")
  local expected = vim.deepcopy(original)
  expected[7] = "    return a * b"
  wait_for("mul()'s change in the buffer", function()
    return vim.deep_equal(vim.api.nvim_buf_get_lines(bufnr, 0, -1, true), expected)
  end)
  wait_for("mul()'s diagnostic to go, add()'s to stay", function()
    return diagnostic_lines() == "1"
  end)
  check(vim.api.nvim_buf_get_lines(bufnr, 1, 2, true)[1] == "    return a - b", "add() changed too")
  log(("diff split of run %s: `a` applied mul()'s hunk alone, its diagnostic went"):format(run_id))
  vim.cmd("tabclose")

  -- :MinionRevise: a second commit on the run's branch.
  vim.api.nvim_set_current_win(file_win)
  vim.cmd("MinionRevise also say why in a comment")
  local revised_id, revised = finished_run(run_id)
  check(revised.status == "ok" and revised.branch == run.branch, "the revision: %s", vim.inspect(revised))
  -- One commit a round, on top of the run's base (the snapshot of the user's files).
  local files = lsp.request_sync(lsp.client(bufnr), "workspace/executeCommand",
    { command = "minion.runFiles", arguments = { { runId = run_id } } }, 5000, bufnr).result
  local commits = vim.trim(vim.fn.system({ "git", "rev-list", "--count", files.base .. ".." .. run.branch }))
  check(commits == "2", "%s has %s commits since its base %s", run.branch, commits, files.base)
  log(("revised %s as %s: %s has 2 commits"):format(run_id, revised_id, run.branch))

  -- `l` on the revision's row: its log.
  runs_view_row(revised_id, "  ok")
  press("l")
  local revised_log = wait_for("the revision's log", function()
    local found = vim.fn.bufnr("^minion://log/" .. revised_id .. "$")
    return found > 0 and vim.fn.bufwinid(found) ~= -1 and not require("minion.log").live(found) and found
  end)
  check(text_of(revised_log):find("run ended: ok", 1, true), "the revision's log:\n%s", text_of(revised_log))

  -- :MinionRuns! (from the log: a buffer of no repository, the one server serves it)
  -- lists the other repository's run too, each row with its repository.
  local other_id = os.getenv("MINION_E2E_OTHER_RUN")
  vim.cmd("MinionRuns!")
  check(vim.api.nvim_buf_get_name(0):find("minion://runs/", 1, true), "not the runs view: %s", vim.api.nvim_buf_get_name(0))
  local other_row = wait_for("the other repository's run", function()
    return view_row(other_id)
  end)
  local own_row = view_row(revised_id)
  check(other_row:find("  other repo  ", 1, true) and own_row and own_row:find("  user repo  ", 1, true),
    "the repo column:\n%s", text_of(0))
  log("runs of every repository: " .. other_row)
  press("A")
  wait_for("this workspace's runs again", function()
    return view_row(revised_id) and not view_row(other_id)
  end)
  check(not text_of(0):find("  user repo  ", 1, true), "a repo column for one repository:\n%s", text_of(0))
  log("A: this workspace's runs, without the repo column")
end

-- Trust: the repository has blueprints of its own, never trusted. The server's question
-- about them is a note, not a prompt, and nothing starts until `:MinionAnswer` answers it;
-- then the run starts (0.10+: the question waited; 0.7-0.9: the delegation is sent again
-- and gets the answer) and no error is shown for the question's "no" (MINION_E2E_TRUST).
local function trust()
  local bufnr = vim.api.nvim_get_current_buf()
  attached_client(bufnr)
  local notes = {}
  local notify = vim.notify
  vim.notify = function(message, level, ...)
    table.insert(notes, { message = message, level = level })
    return notify(message, level, ...)
  end
  vim.cmd("2MinionDelegate fix it")
  local question = wait_for("the trust question", function()
    return lsp.state.questions[1]
  end)
  check(question.message:find("blueprints", 1, true), "the question: %s", question.message)
  wait_for("the question's note", function()
    for _, note in ipairs(notes) do
      if note.message:find(":MinionAnswer", 1, true) then
        return true
      end
    end
  end)
  vim.wait(1000) -- the server would start a run now if it did not wait for the answer
  check(lsp.state.latest == nil, "run %s started before the answer", tostring(lsp.state.latest))
  check(#modal_prompts == 0, "a modal prompt: %s", vim.inspect(modal_prompts))
  vim.cmd("MinionAnswer Trust and run")
  local run_id, run = finished_run(nil)
  check(#lsp.state.questions == 0, "questions left: %s", vim.inspect(lsp.state.questions))
  for _, note in ipairs(notes) do
    check(note.level ~= vim.log.levels.ERROR, "an error shown: %s", note.message)
  end
  log(("asked in a note; :MinionAnswer trusted the blueprints; run %s ended %s"):format(run_id, run.status))
end

local function main()
  local bufnr = vim.api.nvim_get_current_buf()
  attached_client(bufnr)
  checkhealth()

  -- 1. A line range with an instruction.
  vim.cmd("2MinionDelegate fix it")
  local fix_id, fix = finished_run(nil)
  check(fix.status == "ok", "run %s ended %s", fix_id, fix.status)
  apply_the_fix(bufnr, fix_id, fix, 1)

  -- 2. The TODO at the cursor, with the runs view open: it follows the run live.
  local file_win = vim.api.nvim_get_current_win()
  runs_view_row(fix_id, "  ok")
  vim.api.nvim_set_current_win(file_win)
  vim.api.nvim_win_set_cursor(0, { 6, 0 })
  vim.cmd("MinionTodo")
  local started_id = wait_for("the TODO's run", function()
    return lsp.state.latest ~= fix_id and lsp.state.latest
  end)
  local view = vim.fn.bufnr("^minion://runs/")
  wait_for("the runs view to list run " .. started_id, function()
    return table.concat(vim.api.nvim_buf_get_lines(view, 0, -1, true), "\n"):find(started_id, 1, true)
  end)
  local todo_id, todo = finished_run(fix_id)
  check(todo.status == "ok", "run %s ended %s", todo_id, todo.status)
  apply_the_fix(bufnr, todo_id, todo, 6)

  check(seen.status, "the status line never showed an active run")
  check(seen.titles, "the status line never showed the server's title")
  check(seen.progress_events > 0, "no %s event", progress_event)

  -- 3. The runs view (refreshed: the run is ok there) opens a run's report
  -- (window/showDocument; the plugin's own on 0.7).
  runs_view_row(todo_id, "  ok")
  press("o")
  local report = wait_for("the report to open", function()
    local name = vim.api.nvim_buf_get_name(0)
    return name:find(todo_id, 1, true) and name:match("%.md$") and name
  end)
  -- Formatted (report.lua), not the markdown: no heading marks or bold stars, headings
  -- underlined, the agent's summary in it.
  local shown = vim.api.nvim_buf_get_lines(0, 0, -1, true)
  check(vim.bo.filetype == "minionreport" and vim.bo.buftype == "nofile", "the report is %s, %s", vim.bo.filetype, vim.bo.buftype)
  for _, line in ipairs(shown) do
    check(not line:match("^#+ ") and not line:find("**", 1, true), "markdown in the report: %q", line)
  end
  local report_text = table.concat(shown, "\n")
  check(report_text:find("═", 1, true) and report_text:find(os.getenv("MINION_E2E_SUMMARY"), 1, true), "the report:\n%s", report_text)
  log("report opened: " .. report)

  -- 4. "Delegate to minion…" from the code actions on lines 5-6: the plugin asks for the
  -- instruction, and the run gets it as its task.
  vim.cmd("buffer " .. bufnr)
  table.insert(answers, "Delegate to minion…")
  table.insert(instructions, "document mul()")
  if vim.lsp.buf.range_code_action then -- before 0.10
    vim.lsp.buf.range_code_action(nil, { 5, 0 }, { 7, 0 })
  else
    vim.lsp.buf.code_action({ range = { start = { 5, 0 }, ["end"] = { 7, 0 } } })
  end
  local prompted_id = finished_run(todo_id)
  local listed = lsp.request_sync(lsp.client(bufnr), "workspace/executeCommand", { command = "minion.runs" }, 5000, bufnr)
  local tasks = {}
  for _, run in ipairs(listed.result) do
    tasks[run.id] = run.task
  end
  check(tasks[prompted_id] == "document mul()", "run %s has the task %q", prompted_id, tostring(tasks[prompted_id]))
  check(#answers == 0 and #instructions == 0, "unused answers: %s", table.concat(answers, ", "))
end

-- The user types in insert mode while a run ends: no prompt may take a key (a digit and
-- Enter in an inputlist would apply the run). Keys go in one by one through the input
-- queue, as typed; after the run ended and its note was shown, a few more; then the buffer
-- must hold every key typed and the run's change must not be in it. Returns with the
-- editor in insert mode: the main loop must run to take keys; a timer ends the test.
local function typing(finish)
  local bufnr = vim.api.nvim_get_current_buf()
  attached_client(bufnr)
  local original = vim.api.nvim_buf_get_lines(bufnr, 0, -1, true)
  local notes = {}
  local notify = vim.notify
  vim.notify = function(message, ...)
    table.insert(notes, message)
    return notify(message, ...)
  end
  vim.cmd("2MinionDelegate fix it")
  local run_id = wait_for("the run to start", function()
    return lsp.state.latest
  end)
  vim.cmd("setlocal noautoindent nosmartindent nocindent indentexpr= textwidth=0 formatoptions=")
  vim.api.nvim_win_set_cursor(0, { #original, 0 })
  vim.api.nvim_input("o") -- a new line below the last, in insert mode
  local keys = { "x", "1", "<CR>", "2", "<CR>", "y" }
  local typed, count, after_end = {}, 0, 0
  local deadline = vim.loop.now() + RUN_TIMEOUT_MS
  local function told()
    for _, message in ipairs(notes) do
      if message:find("run " .. run_id, 1, true) and message:find(":MinionRuns", 1, true) then
        return true
      end
    end
  end
  local timer
  timer = vim.fn.timer_start(40, function()
    local ok, err = xpcall(function()
      local run = lsp.state.runs[run_id]
      if run and run.ended and told() then
        after_end = after_end + 1
      end
      check(vim.loop.now() < deadline, "run %s did not end with a note (notes: %s)", run_id, vim.inspect(notes))
      if after_end <= #keys * 2 then
        count = count + 1
        local key = keys[(count - 1) % #keys + 1]
        table.insert(typed, key == "<CR>" and "\n" or key)
        return vim.api.nvim_input(key)
      end
      vim.fn.timer_stop(timer)
      vim.api.nvim_input("<Esc>")
      vim.defer_fn(function()
        finish(function()
          check(vim.api.nvim_get_mode().mode == "n", "mode %s after <Esc>", vim.api.nvim_get_mode().mode)
          check(#modal_prompts == 0, "a modal prompt opened: %s", vim.inspect(modal_prompts))
          local expected = vim.list_extend(vim.deepcopy(original), vim.split(table.concat(typed), "\n", { plain = true }))
          local got = vim.api.nvim_buf_get_lines(bufnr, 0, -1, true)
          check(vim.deep_equal(got, expected), "the buffer lost keys or got the run's change:\n%s\nexpected:\n%s",
            table.concat(got, "\n"), table.concat(expected, "\n"))
          log(("typed %d keys while run %s ended (%s): all in the buffer, nothing applied, no prompt")
            :format(count, run_id, lsp.state.runs[run_id].status))
        end)
      end, 300)
    end, debug.traceback)
    if not ok then
      vim.fn.timer_stop(timer)
      finish(function()
        error(err, 0)
      end)
    end
  end, { ["repeat"] = -1 })
end

local function run_scenario(scenario)
  local ok, err = xpcall(scenario, debug.traceback)
  if not ok then
    log("FAILED: " .. tostring(err))
    vim.cmd("cquit! 1")
  end
end

local function check_no_modal_prompt()
  run_scenario(function()
    check(#modal_prompts == 0, "a modal prompt opened: %s", vim.inspect(modal_prompts))
  end)
end

vim.api.nvim_create_autocmd("VimEnter", {
  once = true,
  callback = function()
    if os.getenv("MINION_E2E_TYPING") then -- ends from a timer, once the keys are in
      return run_scenario(function()
        typing(function(last_checks)
          run_scenario(last_checks)
          vim.cmd("qall!")
        end)
      end)
    end
    local scenario = os.getenv("MINION_E2E_ONE_RUN") and one_run
      or os.getenv("MINION_E2E_PATTERNS") and patterns
      or os.getenv("MINION_E2E_REVIEW") and review
      or os.getenv("MINION_E2E_HUNKS") and hunks
      or os.getenv("MINION_E2E_TRUST") and trust
      or main
    run_scenario(scenario)
    check_no_modal_prompt()
    vim.cmd("qall!")
  end,
})
