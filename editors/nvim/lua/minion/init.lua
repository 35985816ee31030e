-- minion for Neovim: delegate a selection, a TODO or a diagnostic to a sandboxed agent
-- from the editor. The server (`minion serve`) does the work and offers the code actions,
-- diagnostics and quick fixes; this plugin starts it and adds commands, the instruction
-- prompt, a runs list and a status line. See :help minion.

local lsp = require("minion.lsp")

local M = {}

local defaults = {
  python = "python3", -- the interpreter that has minion installed and runs the server
  cmd = nil, -- the whole server command, instead of { python, "-m", "minion.cli", "serve" }
  -- Server settings, with the config file's keys (model, blueprint, checks, max_cost_usd…);
  -- settings.python is the project's interpreter (else see lsp.project_python).
  settings = {},
  filetypes = nil, -- nil: every filetype
}

M.options = nil

-- The words for what the server says a run offers (a runs row's `actions`, docs/lsp.md).
local ACTION_TITLES = {
  ["minion.openReport"] = "Open report",
  ["minion.cancel"] = "Cancel",
  ["minion.apply"] = "Apply all changes",
  ["minion.resume"] = "Resume",
  ["minion.discard"] = "Discard",
}

local function notify(message, level)
  vim.notify("minion: " .. message, level or vim.log.levels.INFO)
end

local function is_null(value)
  return value == nil or value == vim.NIL
end

--- minion's client for the current buffer, or nil after saying why there is none.
local function client_here(bufnr)
  local client = lsp.client(bufnr)
  if not client then
    notify("no minion server for this buffer (a file in a git repository?); :checkhealth minion", vim.log.levels.WARN)
  end
  return client
end

local function started(result)
  if result then
    notify(("run %s %s on %s"):format(result.runId, result.status, result.branch))
  end
end

--- minion.delegate; when the server answers that the anchor already has an active or
--- unreviewed run (`duplicateOf`), ask whether to start another (`force`) or show that one.
local function delegate(client, argument, bufnr)
  lsp.execute(client, "minion.delegate", { argument }, bufnr, function(result)
    if type(result) ~= "table" or is_null(result.duplicateOf) then
      return started(result)
    end
    local show = ("Show run %s (%s)"):format(result.duplicateOf, result.status)
    local again = "Start another run anyway"
    vim.ui.select({ show, again }, {
      prompt = ("run %s (%s) already works on this"):format(result.duplicateOf, result.status),
    }, function(choice)
      if choice == again then
        argument.force = true
        lsp.execute(client, "minion.delegate", { argument }, bufnr, started)
      elseif choice == show then
        M.show_run(client, result.duplicateOf)
      end
    end)
  end)
end

--- Ask for an instruction, then call on_instruction with it (not when the user cancels).
local function with_instruction(given, on_instruction)
  if given and vim.trim(given) ~= "" then
    return on_instruction(vim.trim(given))
  end
  vim.ui.input({ prompt = "minion, please: " }, function(input)
    if input and vim.trim(input) ~= "" then
      on_instruction(vim.trim(input))
    end
  end)
end

--- An LSP range covering whole lines first..last (1-based, inclusive).
local function line_range(bufnr, first, last)
  local finish
  if last < vim.api.nvim_buf_line_count(bufnr) then
    finish = { line = last, character = 0 }
  else
    local text = vim.api.nvim_buf_get_lines(bufnr, last - 1, last, true)[1]
    finish = { line = last - 1, character = lsp.utf16_len(text) }
  end
  return { start = { line = first - 1, character = 0 }, ["end"] = finish }
end

local function lines_of(opts)
  if opts.range > 0 then
    return opts.line1, opts.line2
  end
  local row = vim.api.nvim_win_get_cursor(0)[1]
  return row, row
end

-- --- delegating --------------------------------------------------------------------------

--- :[range]MinionDelegate [instruction]
function M.delegate(opts)
  local bufnr = vim.api.nvim_get_current_buf()
  local client = client_here(bufnr)
  if not client then
    return
  end
  local first, last = lines_of(opts)
  local argument = {
    uri = vim.uri_from_bufnr(bufnr),
    range = line_range(bufnr, first, last),
    kind = "selection",
    diagnostic = vim.NIL,
  }
  with_instruction(opts.args, function(instruction)
    argument.instruction = instruction
    delegate(client, argument, bufnr)
  end)
end

-- The server's "Delegate to minion…" action carries no instruction: ask for it here.
local function delegate_command(command, ctx)
  local argument = command.arguments[1]
  local client = vim.lsp.get_client_by_id(ctx.client_id)
  local function send()
    delegate(client, argument, ctx.bufnr)
  end
  local kind = is_null(argument.kind) and "selection" or argument.kind
  if kind == "selection" and (is_null(argument.instruction) or vim.trim(argument.instruction) == "") then
    with_instruction(nil, function(instruction)
      argument.instruction = instruction
      send()
    end)
  else
    send()
  end
end

--- :[range]MinionTodo: hand off the TODO at the cursor, or every TODO in the range.
function M.todo(opts)
  local bufnr = vim.api.nvim_get_current_buf()
  local client = client_here(bufnr)
  if not client then
    return
  end
  local first, last = lines_of(opts)
  local patterns = lsp.todo_patterns(client) -- the server's: its settings, the repository's config
  local uri = vim.uri_from_bufnr(bufnr)
  local handoffs, seen = {}, {}
  for row, text in ipairs(vim.api.nvim_buf_get_lines(bufnr, first - 1, last, true)) do
    local line = first + row - 2
    local marked = opts.range == 0 -- at the cursor, the TODO may start lines above
    for _, pattern in ipairs(patterns) do
      marked = marked or text:find(pattern, 1, true) ~= nil
    end
    if marked then
      -- The server tells real TODO comments from markers in strings.
      local cursor = { line = line, character = 0 }
      local response = lsp.request_sync(client, "textDocument/codeAction", {
        textDocument = { uri = uri },
        range = { start = cursor, ["end"] = cursor },
        context = { diagnostics = {}, only = { "quickfix" } },
      }, 5000, bufnr)
      for _, action in ipairs(response and response.result or {}) do
        local command = type(action.command) == "table" and action.command or action
        local argument = command.arguments and command.arguments[1]
        if command.command == "minion.delegate" and type(argument) == "table" and argument.kind == "todo" then
          local key = argument.range.start.line
          if not seen[key] then
            seen[key] = true
            table.insert(handoffs, argument)
          end
        end
      end
    end
  end
  if #handoffs == 0 then
    notify("no TODO for minion here (markers: " .. table.concat(patterns, ", ") .. ")", vim.log.levels.WARN)
  end
  for _, argument in ipairs(handoffs) do
    delegate(client, argument, bufnr)
  end
end

-- --- runs --------------------------------------------------------------------------------

--- When a run was created (seconds since the epoch, as the server sends it), in local time.
function M.local_time(epoch_seconds)
  return os.date("%Y-%m-%d %H:%M", math.floor(epoch_seconds))
end

--- The first line of a task, at most `width` characters.
local function one_line(text, width)
  local line = vim.split(text or "", "\n", { plain = true })[1]
  if width and vim.fn.strchars(line) > width then
    line = vim.fn.strcharpart(line, 0, width - 1) .. "…"
  end
  return line
end

--- What a run does or how it ended: the server's one-line `title` while it works.
local function run_state(run)
  if not run.ended and not is_null(run.title) and run.title ~= "" then
    return run.title
  end
  return run.status
end

--- One row of :MinionRuns.
function M.format_run(run)
  local branch = is_null(run.branch) and "-" or run.branch
  return ("%s  %s  %-24s  %s  %s"):format(
    run.id,
    M.local_time(run.created_at),
    one_line(run_state(run), 60),
    branch,
    one_line(run.task, 60)
  )
end

-- --- :MinionRuns: a scratch buffer of the workspace's runs --------------------------------

local KEYS = {
  { "o", "minion.openReport", "open report" },
  { "a", "minion.apply", "apply" },
  { "c", "minion.cancel", "cancel" },
  { "R", "minion.resume", "resume" },
  { "X", "minion.discard", "discard" },
  { "r", "revise", "revise" },
  { "d", "diff", "diff" },
  { "q", "close", "close" },
}
local HEADER_LINES = 2

-- bufnr -> { client_id, runs = { row index -> run } } for each open runs buffer.
local views = {}

local function view_run(bufnr)
  local view = views[bufnr]
  local row = vim.api.nvim_win_get_cursor(0)[1] - HEADER_LINES
  return view and view.runs[row]
end

local function render(bufnr, runs)
  local view = views[bufnr]
  if not view or not vim.api.nvim_buf_is_valid(bufnr) then
    return
  end
  local help = {}
  for _, key in ipairs(KEYS) do
    table.insert(help, key[1] .. " " .. key[3])
  end
  local lines = { "minion runs · " .. table.concat(help, " · "), "" }
  view.runs = runs
  for _, run in ipairs(runs) do
    table.insert(lines, M.format_run(run))
  end
  if #runs == 0 then
    table.insert(lines, "(no runs in this workspace yet; :MinionDelegate starts one)")
  end
  vim.bo[bufnr].modifiable = true
  vim.api.nvim_buf_set_lines(bufnr, 0, -1, false, lines)
  vim.bo[bufnr].modifiable = false
  vim.bo[bufnr].modified = false
end

--- Fetch the runs again and redraw the buffer.
local function refresh(bufnr, on_done)
  local view = views[bufnr]
  local client = view and vim.lsp.get_client_by_id(view.client_id)
  if not client then
    return
  end
  lsp.execute(client, "minion.runs", { { scope = "workspace" } }, nil, function(runs)
    render(bufnr, runs or {})
    if on_done then
      on_done()
    end
  end)
end

-- minion/runStatus: refresh every open runs buffer, at most every 200 ms.
local pending = false
local function refresh_views()
  if pending then
    return
  end
  pending = true
  vim.defer_fn(function()
    pending = false
    for bufnr in pairs(views) do
      if vim.api.nvim_buf_is_valid(bufnr) then
        refresh(bufnr)
      else
        views[bufnr] = nil
      end
    end
  end, 200)
end

local function run_action(bufnr, command)
  local run = view_run(bufnr)
  if not run then
    return notify("no run on this line", vim.log.levels.WARN)
  end
  local client = vim.lsp.get_client_by_id(views[bufnr].client_id)
  if command == "close" then
    return vim.cmd("close")
  elseif command == "revise" then
    return M.revise_run(client, run)
  elseif command == "diff" then
    return M.diff_run(client, run)
  end
  if not vim.tbl_contains(run.actions, command) then
    return notify(("run %s (%s) offers no %s"):format(run.id, run.status, ACTION_TITLES[command] or command), vim.log.levels.WARN)
  end
  local function send(arguments)
    lsp.execute(client, command, arguments, nil, function(result)
      notify(("%s %s: %s"):format(ACTION_TITLES[command] or command, run.id, vim.inspect(result, { newline = " ", indent = "" })))
      refresh(bufnr)
    end)
  end
  if command ~= "minion.discard" then
    return send({ run.id })
  end
  -- Discard deletes the run's branch: ask first, naming it.
  local branch = is_null(run.branch) and nil or run.branch
  local yes = branch and ("Discard run %s and delete branch %s"):format(run.id, branch) or ("Discard run %s"):format(run.id)
  vim.ui.select({ yes, "Keep it" }, { prompt = yes .. "?" }, function(choice)
    if choice == yes then
      send({ run.id, branch ~= nil })
    end
  end)
end

--- :MinionRuns: this workspace's runs in a scratch buffer that follows them live; with
--- `focus` (a run id), the cursor goes to that run's line.
function M.runs(focus)
  focus = type(focus) == "string" and focus or nil
  local bufnr = vim.api.nvim_get_current_buf()
  local client = views[bufnr] and vim.lsp.get_client_by_id(views[bufnr].client_id) or client_here(bufnr)
  if not client then
    return
  end
  local name = "minion://runs/" .. client.id
  local existing = vim.fn.bufnr("^" .. name .. "$")
  local view_buf = existing > 0 and existing or vim.api.nvim_create_buf(false, true)
  local win = vim.fn.bufwinid(view_buf)
  if win ~= -1 then
    vim.api.nvim_set_current_win(win)
  else
    vim.cmd("botright 12split")
    vim.api.nvim_win_set_buf(0, view_buf)
  end
  if existing <= 0 then
    vim.api.nvim_buf_set_name(view_buf, name)
    vim.bo[view_buf].buftype = "nofile"
    vim.bo[view_buf].bufhidden = "hide"
    vim.bo[view_buf].swapfile = false
    vim.bo[view_buf].filetype = "minionruns"
    vim.bo[view_buf].modifiable = false
    for _, key in ipairs(KEYS) do
      vim.keymap.set("n", key[1], function()
        run_action(view_buf, key[2])
      end, { buffer = view_buf, nowait = true, desc = "minion: " .. key[3] })
    end
    vim.keymap.set("n", "<CR>", function()
      run_action(view_buf, "minion.openReport")
    end, { buffer = view_buf, desc = "minion: open report" })
    vim.api.nvim_create_autocmd("BufWipeout", {
      buffer = view_buf,
      callback = function()
        views[view_buf] = nil
      end,
    })
  end
  vim.wo.wrap = false
  vim.wo.cursorline = true
  views[view_buf] = views[view_buf] or { runs = {} }
  views[view_buf].client_id = client.id
  refresh(view_buf, function()
    local win_now = vim.fn.bufwinid(view_buf)
    if win_now == -1 then
      return
    end
    for i, run in ipairs(views[view_buf].runs) do
      if run.id == focus then
        return pcall(vim.api.nvim_win_set_cursor, win_now, { i + HEADER_LINES, 0 })
      end
    end
    local first = HEADER_LINES + 1
    if vim.api.nvim_win_get_cursor(win_now)[1] < first then
      pcall(vim.api.nvim_win_set_cursor, win_now, { math.min(first, vim.api.nvim_buf_line_count(view_buf)), 0 })
    end
  end)
end

--- Reveal a run in :MinionRuns (the server's "Show run <id>" action, minion.showRun).
function M.show_run(client, run_id)
  lsp.execute(client, "minion.showRun", { { runId = run_id } }, nil, function(row)
    local full = type(row) == "table" and row.id or run_id
    local source = vim.api.nvim_get_current_buf()
    if not (views[source] and views[source].client_id == client.id) and not lsp.client(source) then
      return notify(("run %s: %s"):format(full, type(row) == "table" and run_state(row) or "?"))
    end
    M.runs(full)
  end)
end

local function show_run_command(command, ctx)
  local argument = command.arguments and command.arguments[1]
  local run_id = type(argument) == "table" and argument.runId or argument
  M.show_run(vim.lsp.get_client_by_id(ctx.client_id), run_id)
end

-- --- revise ------------------------------------------------------------------------------

--- Send a finished run back with feedback (asked for when not given): a new run on its branch.
function M.revise_run(client, run, feedback)
  if run.ended == false then
    return notify(("run %s is still %s; revise it once it ended"):format(run.id, run.status), vim.log.levels.WARN)
  end
  local function send(text)
    lsp.execute(client, "minion.revise", { { runId = run.id, feedback = text } }, nil, started)
  end
  if feedback and vim.trim(feedback) ~= "" then
    return send(vim.trim(feedback))
  end
  vim.ui.input({ prompt = ("revise run %s, feedback: "):format(run.id) }, function(input)
    if input and vim.trim(input) ~= "" then
      send(vim.trim(input))
    end
  end)
end

-- --- diff --------------------------------------------------------------------------------

local function scratch(name, text, path)
  local existing = vim.fn.bufnr("^" .. name .. "$")
  if existing > 0 then
    vim.api.nvim_buf_delete(existing, { force = true })
  end
  local bufnr = vim.api.nvim_create_buf(false, true)
  vim.api.nvim_buf_set_name(bufnr, name)
  local lines = is_null(text) and {} or vim.split(text, "\n", { plain = true })
  if #lines > 0 and lines[#lines] == "" then
    table.remove(lines)
  end
  vim.api.nvim_buf_set_lines(bufnr, 0, -1, false, lines)
  vim.bo[bufnr].buftype = "nofile"
  vim.bo[bufnr].bufhidden = "wipe"
  vim.bo[bufnr].swapfile = false
  vim.bo[bufnr].modifiable = false
  if vim.fn.has("nvim-0.8") == 1 then
    local ok, filetype = pcall(vim.filetype.match, { filename = path, buf = bufnr })
    if ok and filetype then
      vim.bo[bufnr].filetype = filetype
    end
  elseif vim.filetype and vim.filetype.match then -- 0.7: match(name, bufnr) sets it
    pcall(vim.filetype.match, path, bufnr)
  end
  return bufnr
end

--- The run's file at its base and its head, side by side with :diffthis, in a new tab.
function M.diff_file(client, run_id, path)
  local sides = {}
  local function show()
    if not (sides.base and sides.head) then
      return
    end
    vim.cmd("tabnew")
    local empty = vim.api.nvim_get_current_buf()
    local base = scratch(("minion://%s/base/%s"):format(run_id, path), sides.base, path)
    local head = scratch(("minion://%s/head/%s"):format(run_id, path), sides.head, path)
    vim.api.nvim_win_set_buf(0, base)
    vim.cmd("diffthis")
    vim.cmd("rightbelow vsplit")
    vim.api.nvim_win_set_buf(0, head)
    vim.cmd("diffthis")
    if vim.api.nvim_buf_is_valid(empty) and empty ~= base and empty ~= head then
      pcall(vim.api.nvim_buf_delete, empty, {})
    end
  end
  for _, side in ipairs({ "base", "head" }) do
    lsp.execute(client, "minion.fileAt", { { runId = run_id, path = path, side = side } }, nil, function(result)
      sides[side] = result and result.text or vim.NIL
      show()
    end)
  end
end

--- Pick one of the run's changed files (minion.runFiles), then diff it.
function M.diff_run(client, run, path)
  lsp.execute(client, "minion.runFiles", { { runId = run.id } }, nil, function(result)
    local files = result and result.files or {}
    if #files == 0 then
      return notify(("run %s changed no file"):format(run.id))
    end
    if path then
      return M.diff_file(client, run.id, path)
    end
    if #files == 1 then
      return M.diff_file(client, run.id, files[1].path)
    end
    vim.ui.select(files, {
      prompt = ("run %s: diff which file?"):format(run.id),
      format_item = function(file)
        return ("%s (%s)"):format(file.path, file.change)
      end,
    }, function(file)
      if file then
        M.diff_file(client, run.id, file.path)
      end
    end)
  end)
end

--- :MinionCancel [id]: without an id, the newest active run.
function M.cancel(opts)
  local bufnr = vim.api.nvim_get_current_buf()
  local client = client_here(bufnr)
  if client then
    local arguments = opts.args ~= "" and { opts.args } or {}
    lsp.execute(client, "minion.cancel", arguments, bufnr, function(result)
      notify(("run %s %s"):format(result.runId, result.status))
    end)
  end
end

--- The run of the minion diagnostic on the cursor's line, else the last run heard of, once ended.
local function run_here(bufnr)
  local row = vim.api.nvim_win_get_cursor(0)[1] - 1
  for _, diagnostic in ipairs(vim.diagnostic.get(bufnr, { lnum = row })) do
    if diagnostic.source == "minion" and diagnostic.code then
      return diagnostic.code
    end
  end
  local latest = lsp.state.latest
  if latest and lsp.state.runs[latest].ended then
    return latest
  end
end

--- :MinionApply [id]: apply every change of a run to the open buffers.
function M.apply(opts)
  local bufnr = vim.api.nvim_get_current_buf()
  local client = client_here(bufnr)
  if not client then
    return
  end
  local run_id = opts.args ~= "" and opts.args or run_here(bufnr)
  if not run_id then
    return notify("which run? :MinionApply ID (see :MinionRuns)", vim.log.levels.WARN)
  end
  lsp.execute(client, "minion.apply", { run_id }, bufnr, function(result)
    notify(("run %s: applied %d change(s), skipped %d"):format(run_id, result.applied, result.skipped))
  end)
end

--- :MinionRevise {feedback}: the run on the cursor's line (in :MinionRuns, or of a minion
--- diagnostic), else the last run, once ended; without feedback, it is asked for.
function M.revise(opts)
  local bufnr = vim.api.nvim_get_current_buf()
  local run = view_run(bufnr)
  local client = run and vim.lsp.get_client_by_id(views[bufnr].client_id) or client_here(bufnr)
  if not client then
    return
  end
  if not run then
    local run_id = run_here(bufnr)
    if not run_id then
      return notify("which run? :MinionRevise in :MinionRuns, on a minion diagnostic, or after a run ended", vim.log.levels.WARN)
    end
    run = lsp.state.runs[run_id] or { id = run_id }
  end
  M.revise_run(client, run, opts.args)
end

-- --- status ------------------------------------------------------------------------------

local SPINNER = { "⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏" }

--- For the status line: "" when no run is active, else a spinner, the count and the
--- newest run's one-line progress (the server's `title`: "node · turn 3/60 · 42 s · $0.08"),
--- at most `width` display cells (default 60).
function M.status(width)
  width = tonumber(width) or 60
  if lsp.state.active == 0 then
    return ""
  end
  local latest = lsp.state.latest
  local run = latest and lsp.state.runs[latest]
  local doing = run and run.title
  if is_null(doing) or doing == "" then
    doing = latest and (lsp.state.progress[latest] or (run and run.node))
  end
  local spinner = SPINNER[lsp.state.ticks % #SPINNER + 1]
  local text = ("%s minion: %d active"):format(spinner, lsp.state.active)
  if not is_null(doing) and doing ~= "" then
    text = text .. " · " .. one_line(doing)
  end
  if vim.fn.strdisplaywidth(text) > width then
    text = vim.fn.strcharpart(text, 0, math.max(1, width - 1)) .. "…"
  end
  return text
end

-- --- setup -------------------------------------------------------------------------------

local function command(name, fn, attributes)
  vim.api.nvim_create_user_command(name, fn, attributes)
end

function M.setup(opts)
  M.options = vim.tbl_deep_extend("force", defaults, opts or {})
  M.options.python = vim.fn.expand(M.options.python)
  vim.lsp.commands["minion.delegate"] = delegate_command
  vim.lsp.commands["minion.showRun"] = show_run_command
  command("MinionDelegate", M.delegate, { nargs = "*", range = true, desc = "Delegate lines to minion" })
  command("MinionTodo", M.todo, { range = true, desc = "Hand off the TODO here (or in the range) to minion" })
  command("MinionRuns", M.runs, { desc = "minion's runs, and what to do with one" })
  command("MinionCancel", M.cancel, { nargs = "?", desc = "Cancel a minion run" })
  command("MinionRevise", M.revise, { nargs = "*", desc = "Send a minion run back with feedback" })
  command("MinionApply", M.apply, { nargs = "?", desc = "Apply a minion run's changes" })
  lsp.on_status = refresh_views
  lsp.start(M.options)
end

return M
