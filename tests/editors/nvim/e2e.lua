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
-- run's line and actions in :MinionRuns. Any failure exits with `cquit 1` and a message on
-- stderr.
-- Environment: MINION_E2E_PLUGIN (editors/nvim), MINION_E2E_PYTHON, MINION_E2E_MODEL (the
-- scripted model), MINION_E2E_SUMMARY (what it says when done), and when set,
-- MINION_E2E_PROJECT_PYTHON (settings.python) and MINION_E2E_HOST_PROG (g:python3_host_prog).

vim.opt.runtimepath:prepend(os.getenv("MINION_E2E_PLUGIN"))
vim.opt.swapfile = false
vim.g.python3_host_prog = os.getenv("MINION_E2E_HOST_PROG")

require("minion").setup({
  python = os.getenv("MINION_E2E_PYTHON"),
  settings = { model = os.getenv("MINION_E2E_MODEL"), python = os.getenv("MINION_E2E_PROJECT_PYTHON") },
})

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

-- The user's answers to the menus the test opens, in order. The end-of-run message
-- (window/showMessageRequest) the user dismisses: Neovim 0.11 asks it with vim.ui.select;
-- on 0.7 the plugin only shows it (Neovim's own modal inputlist would block this test).
local answers = {}
vim.ui.select = function(items, opts, on_choice)
  if opts.kind == "lsp_message" then
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
    seen.status = seen.status or require("minion").status():find("minion: 1 active", 1, true) ~= nil
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
  local menus = {} -- the runs, then the chosen run's actions, as the user sees them
  vim.ui.select = function(items, opts, on_choice)
    if opts.kind == "lsp_message" then -- the end-of-run message (0.10+): dismissed
      return on_choice(nil)
    end
    table.insert(menus, vim.tbl_map(opts.format_item, items))
    on_choice(#menus == 1 and items[1] or nil) -- the newest run, then no action
  end
  vim.cmd("MinionRuns")
  wait_for("the run's actions", function()
    return #menus == 2
  end)
  local when = os.date("%Y-%m-%d %H:%M", math.floor(row.created_at))
  check(menus[1][1]:find(run_id .. "  " .. when .. "  ok", 1, true), "the runs list shows %q", menus[1][1])
  check(not menus[1][1]:find(tostring(math.floor(row.created_at)), 1, true), "a raw time in %q", menus[1][1])
  local offered = { "Open report", "Apply all changes", "Discard" }
  check(vim.deep_equal(menus[2], offered), "the run's actions: %s", vim.inspect(menus[2]))
  log("runs list: " .. menus[1][1])
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

  -- 2. The TODO at the cursor.
  vim.api.nvim_win_set_cursor(0, { 6, 0 })
  vim.cmd("MinionTodo")
  local todo_id, todo = finished_run(fix_id)
  check(todo.status == "ok", "run %s ended %s", todo_id, todo.status)
  apply_the_fix(bufnr, todo_id, todo, 6)

  check(seen.status, "the status line never showed an active run")
  check(seen.progress_events > 0, "no %s event", progress_event)

  -- 3. The runs list opens a run's report (window/showDocument; the plugin's own on 0.7).
  table.insert(answers, todo_id)
  table.insert(answers, "Open report")
  vim.cmd("MinionRuns")
  local report = wait_for("the report to open", function()
    local name = vim.api.nvim_buf_get_name(0)
    return name:find(todo_id, 1, true) and name:match("%.md$") and name
  end)
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

vim.api.nvim_create_autocmd("VimEnter", {
  once = true,
  callback = function()
    local scenario = os.getenv("MINION_E2E_ONE_RUN") and one_run or os.getenv("MINION_E2E_PATTERNS") and patterns or main
    local ok, err = xpcall(scenario, debug.traceback)
    if not ok then
      log("FAILED: " .. tostring(err))
      vim.cmd("cquit! 1")
    end
    vim.cmd("qall!")
  end,
})
