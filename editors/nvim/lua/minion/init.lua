-- minion for Neovim: delegate a selection, a TODO or a diagnostic to a sandboxed agent
-- from the editor. The server (`minion serve`) does the work and offers the code actions,
-- diagnostics and quick fixes; this plugin starts it and adds commands, the instruction
-- prompt, a runs list and a status line. See :help minion.

local buffers = require("minion.buffers")
local lsp = require("minion.lsp")
local marks = require("minion.marks")

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

--- minion's client for a buffer, or nil after saying why there is none.
local function client_here(bufnr)
  local client = lsp.client(bufnr)
  if not client then
    notify("no minion server for this buffer (a file in a git repository?); :checkhealth minion", vim.log.levels.WARN)
  end
  return client
end

--- The current buffer and minion's client for it (nil, after saying why, when none).
local function current_buffer_client()
  local bufnr = vim.api.nvim_get_current_buf()
  return bufnr, client_here(bufnr)
end

local function started(result)
  if result then
    notify(("run %s %s on %s"):format(result.runId, result.status, result.branch))
  end
end

--- The lines (0-based, first and last) an LSP range covers.
local function range_lines(range)
  local first, last = range.start.line, range["end"].line
  if range["end"].character == 0 and last > first then
    last = last - 1
  end
  return first, last
end

-- client id -> the delegation it is sending: a question of the server it meets (trusting
-- the repository's blueprints) may need to send it again (lsp.message_request).
local in_flight = {}
lsp.delegation_in_flight = function(client_id)
  return in_flight[client_id]
end

--- minion.delegate; when the server answers that the anchor already has an active or
--- unreviewed run (`duplicateOf`), ask whether to start another (`force`) or show that one.
--- A delegated selection is marked while its run is active (marks.lua).
local function delegate(client, argument, bufnr)
  local flight = { argument = argument }
  function flight.again()
    delegate(client, argument, bufnr)
  end
  in_flight[client.id] = flight
  local function landed()
    if in_flight[client.id] == flight then
      in_flight[client.id] = nil
    end
  end
  local function run_started(result)
    started(result)
    local kind = is_null(argument.kind) and "selection" or argument.kind
    if type(result) == "table" and result.runId and kind == "selection" and bufnr and bufnr ~= 0 then
      local first, last = range_lines(argument.range)
      marks.place(bufnr, result.runId, first, last, lsp.state.runs[result.runId])
    end
  end
  lsp.execute(client, "minion.delegate", { argument }, bufnr, function(result)
    landed()
    if type(result) ~= "table" or is_null(result.duplicateOf) then
      return run_started(result)
    end
    local show = ("Show run %s (%s)"):format(result.duplicateOf, result.status)
    local again = "Start another run anyway"
    vim.ui.select({ show, again }, {
      prompt = ("run %s (%s) already works on this"):format(result.duplicateOf, result.status),
    }, function(choice)
      if choice == again then
        argument.force = true
        lsp.execute(client, "minion.delegate", { argument }, bufnr, run_started)
      elseif choice == show then
        M.show_run(client, result.duplicateOf)
      end
    end)
  end, function()
    landed()
    return flight.questioned -- the server asked first (:MinionAnswer): its "no" is no news
  end)
end

--- The text `given`, else ask for it (`prompt`, default: for an instruction); then call
--- on_instruction with it (not when the user cancels).
local function with_instruction(given, on_instruction, prompt)
  if given and vim.trim(given) ~= "" then
    return on_instruction(vim.trim(given))
  end
  vim.ui.input({ prompt = prompt or "minion, please: " }, function(input)
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

--- A command with a range: fn(opts, bufnr, client, first, last) with the current buffer,
--- minion's client for it and the range's lines (1-based; else the cursor's). Without a
--- client it says why and does nothing.
local function range_command(fn)
  return function(opts)
    local bufnr, client = current_buffer_client()
    if not client then
      return
    end
    local first, last = opts.line1, opts.line2
    if opts.range == 0 then
      first = vim.api.nvim_win_get_cursor(0)[1]
      last = first
    end
    return fn(opts, bufnr, client, first, last)
  end
end

-- --- delegating --------------------------------------------------------------------------

--- Delegate a selection with the instruction `given`, else the one the user is asked for.
local function delegate_selection(client, argument, bufnr, given)
  with_instruction(given, function(instruction)
    argument.instruction = instruction
    delegate(client, argument, bufnr)
  end)
end

--- :[range]MinionDelegate [instruction]
M.delegate = range_command(function(opts, bufnr, client, first, last)
  local argument = {
    uri = vim.uri_from_bufnr(bufnr),
    range = line_range(bufnr, first, last),
    kind = "selection",
    diagnostic = vim.NIL,
  }
  delegate_selection(client, argument, bufnr, opts.args)
end)

-- The server's "Delegate to minion…" action carries no instruction: ask for it here.
local function delegate_command(command, ctx)
  local argument = command.arguments[1]
  local client = vim.lsp.get_client_by_id(ctx.client_id)
  local kind = is_null(argument.kind) and "selection" or argument.kind
  if kind == "selection" and (is_null(argument.instruction) or vim.trim(argument.instruction) == "") then
    delegate_selection(client, argument, ctx.bufnr, nil)
  else
    delegate(client, argument, ctx.bufnr)
  end
end

--- :[range]MinionTodo: hand off the TODO at the cursor, or every TODO in the range.
M.todo = range_command(function(opts, bufnr, client, first, last)
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
end)

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

--- What a run does or how it ended, with its turns, time and cost: the server's one-line
--- `title` ("agent · turn 3/60 · 42 s · $0.08" while it works, "ok · turn 5/60 · …" after).
local function run_state(run)
  if not is_null(run.title) and run.title ~= "" then
    return run.title
  end
  return run.status
end

--- Short names for the repositories of `runs` when there are several (nil for one): each
--- its folder's name, or its path (~ or relative to the current folder) where two share one.
function M.repo_labels(runs)
  local repos, seen = {}, {}
  for _, run in ipairs(runs) do
    if not is_null(run.repo) and not seen[run.repo] then
      seen[run.repo] = true
      table.insert(repos, run.repo)
    end
  end
  if #repos < 2 then
    return nil
  end
  local by_tail, labels = {}, {}
  for _, repo in ipairs(repos) do
    local tail = vim.fn.fnamemodify(repo, ":t")
    by_tail[tail] = (by_tail[tail] or 0) + 1
  end
  for _, repo in ipairs(repos) do
    local tail = vim.fn.fnamemodify(repo, ":t")
    labels[repo] = by_tail[tail] == 1 and tail or vim.fn.fnamemodify(repo, ":~:.")
  end
  return labels
end

--- One row of :MinionRuns; `repo` (a short name of the run's repository) when the rows come
--- from several, padded to `repo_width`.
function M.format_run(run, repo, repo_width)
  local branch = is_null(run.branch) and "-" or run.branch
  local where = ""
  if repo then
    where = repo .. string.rep(" ", math.max(0, (repo_width or 0) - vim.fn.strdisplaywidth(repo))) .. "  "
  end
  return ("%s  %s  %s%-40s  %s  %s"):format(
    run.id,
    M.local_time(run.created_at),
    where,
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
  { "l", "log", "log" },
  { "A", "scope", "all repos" },
  { "q", "close", "close" },
}
local HEADER_LINES = 2

-- bufnr -> { client_id, runs = { row index -> run } } for each open runs buffer.
local views = {}

--- The client of a command about runs: the runs view's, else the buffer's, else the one
--- minion server running (from a buffer of its own: a log, a report); nil after saying why.
local function runs_client(bufnr)
  if views[bufnr] then
    return vim.lsp.get_client_by_id(views[bufnr].client_id)
  end
  local running = lsp.clients()
  if not lsp.client(bufnr) and #running == 1 then
    return running[1]
  end
  return client_here(bufnr)
end

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
  local title = view.scope == "all" and "minion runs of every repository" or "minion runs"
  local lines = { title .. " · " .. table.concat(help, " · "), "" }
  view.runs = runs
  local labels = M.repo_labels(runs)
  local width = 0
  for _, label in pairs(labels or {}) do
    width = math.min(24, math.max(width, vim.fn.strdisplaywidth(label)))
  end
  for _, run in ipairs(runs) do
    local label = labels and labels[run.repo]
    if label and vim.fn.strdisplaywidth(label) > width then
      label = vim.fn.strcharpart(label, 0, width - 1) .. "…"
    end
    table.insert(lines, M.format_run(run, label, width))
  end
  if #runs == 0 then
    table.insert(lines, view.scope == "all" and "(no runs yet)" or "(no runs in this workspace yet; :MinionDelegate starts one)")
  end
  buffers.set_lines(bufnr, 0, -1, lines)
end

--- Fetch the runs again and redraw the buffer.
local function refresh(bufnr, on_done)
  local view = views[bufnr]
  local client = view and vim.lsp.get_client_by_id(view.client_id)
  if not client then
    return
  end
  lsp.execute(client, "minion.runs", { { scope = view.scope or "workspace" } }, nil, function(runs)
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
  if command == "scope" then -- every repository's runs, or this workspace's again
    views[bufnr].scope = views[bufnr].scope == "all" and "workspace" or "all"
    return refresh(bufnr)
  elseif command == "close" then
    return vim.cmd("close")
  end
  local run = view_run(bufnr)
  if not run then
    return notify("no run on this line", vim.log.levels.WARN)
  end
  local client = vim.lsp.get_client_by_id(views[bufnr].client_id)
  if command == "log" then
    return require("minion.log").open(client, run)
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
--- `focus` (a run id), the cursor goes to that run's line. `scope` "all" (:MinionRuns!):
--- every repository's runs, with a repo column; "workspace" this workspace's; nil: as the
--- open view has it.
function M.runs(focus, scope)
  focus = type(focus) == "string" and focus or nil
  local client = runs_client(vim.api.nvim_get_current_buf())
  if not client then
    return
  end
  local view_buf, fresh = buffers.scratch("minion://runs/" .. client.id, { filetype = "minionruns" })
  buffers.show_at_bottom(view_buf)
  if fresh then
    local keys = { { "<CR>", "minion.openReport", "open report" }, unpack(KEYS) }
    buffers.map(view_buf, vim.tbl_map(function(key)
      return { key[1], function()
        run_action(view_buf, key[2])
      end, key[3] }
    end, keys))
    buffers.forget_on_wipeout(view_buf, views)
  end
  vim.wo.wrap = false
  vim.wo.cursorline = true
  views[view_buf] = views[view_buf] or { runs = {}, scope = "workspace" }
  views[view_buf].client_id = client.id
  views[view_buf].scope = scope or views[view_buf].scope
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
  with_instruction(feedback, function(text)
    lsp.execute(client, "minion.revise", { { runId = run.id, feedback = text } }, nil, started)
  end, ("revise run %s, feedback: "):format(run.id))
end

-- --- diff --------------------------------------------------------------------------------

--- A side of a diff: a fresh read-only buffer with `text` (vim.NIL: no such file on that
--- side), the filetype of `path`, wiped when hidden.
local function diff_side(name, text, path)
  local existing = vim.fn.bufnr("^" .. name .. "$")
  if existing > 0 then
    vim.api.nvim_buf_delete(existing, { force = true }) -- the run may have moved on (revised)
  end
  local bufnr = buffers.scratch(name, { bufhidden = "wipe" })
  local lines = is_null(text) and {} or vim.split(text, "\n", { plain = true })
  if #lines > 0 and lines[#lines] == "" then
    table.remove(lines)
  end
  buffers.set_lines(bufnr, 0, -1, lines)
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

--- The hunk of `hunks` (minion.runFiles, 0-based lines) at line `line` of one side
--- ("base" or "head"). A hunk with no line on that side (an insertion seen from the base,
--- a deletion from the head) sits between two lines: either of them finds it.
function M.hunk_at(hunks, side, line)
  local nearby
  for _, hunk in ipairs(hunks or {}) do
    local start, count = hunk[side .. "_start"], hunk[side .. "_count"]
    if count > 0 and line >= start and line < start + count then
      return hunk
    elseif count == 0 and (line == start or line == start - 1) then
      nearby = nearby or hunk
    end
  end
  return nearby
end

--- `a` in a diff split: apply the change under the cursor (just that hunk) to the user's
--- buffer, minion.applyHunk; the server then drops that change's diagnostic.
local function apply_hunk_here(client, run_id, file, side)
  local line = vim.api.nvim_win_get_cursor(0)[1] - 1
  local hunk = M.hunk_at(file.hunks, side, line)
  if not hunk then
    return notify(("no change of run %s on this line (]c goes to the next)"):format(run_id), vim.log.levels.WARN)
  end
  lsp.execute(client, "minion.applyHunk", { run_id, hunk.index }, nil, function(result)
    if result.applied > 0 then
      notify(("run %s: applied the change at line %d of %s"):format(run_id, line + 1, file.path))
    else
      local why = is_null(result.failureReason) and "your text there changed since the run" or result.failureReason
      notify(("run %s: the change at line %d was not applied: %s"):format(run_id, line + 1, why), vim.log.levels.WARN)
    end
  end)
end

--- The run's file (a minion.runFiles entry) at its base and its head, side by side with
--- :diffthis, in a new tab; `a` applies the hunk under the cursor, `q` closes the tab.
function M.diff_file(client, run_id, file)
  local sides = {}
  local function show()
    if not (sides.base and sides.head) then
      return
    end
    vim.cmd("tabnew")
    local empty = vim.api.nvim_get_current_buf()
    for i, side in ipairs({ "base", "head" }) do
      local bufnr = diff_side(("minion://%s/%s/%s"):format(run_id, side, file.path), sides[side], file.path)
      if i > 1 then
        vim.cmd("rightbelow vsplit")
      end
      vim.api.nvim_win_set_buf(0, bufnr)
      vim.cmd("diffthis")
      buffers.map(bufnr, {
        { "a", function()
          apply_hunk_here(client, run_id, file, side)
        end, "apply this change" },
        { "q", "<Cmd>tabclose<CR>", "close the diff" },
      })
    end
    if vim.api.nvim_buf_is_valid(empty) and vim.fn.bufwinid(empty) == -1 then
      pcall(vim.api.nvim_buf_delete, empty, {})
    end
  end
  for _, side in ipairs({ "base", "head" }) do
    lsp.execute(client, "minion.fileAt", { { runId = run_id, path = file.path, side = side } }, nil, function(result)
      sides[side] = result and result.text or vim.NIL
      show()
    end)
  end
end

--- Pick one of the run's changed files (minion.runFiles), then diff it.
function M.diff_run(client, run)
  lsp.execute(client, "minion.runFiles", { { runId = run.id } }, nil, function(result)
    local files = result and result.files or {}
    if #files == 0 then
      return notify(("run %s changed no file"):format(run.id))
    end
    if #files == 1 then
      return M.diff_file(client, run.id, files[1])
    end
    vim.ui.select(files, {
      prompt = ("run %s: diff which file?"):format(run.id),
      format_item = function(file)
        return ("%s (%s)"):format(file.path, file.change)
      end,
    }, function(file)
      if file then
        M.diff_file(client, run.id, file)
      end
    end)
  end)
end

--- :MinionCancel [id]: without an id, the newest active run.
function M.cancel(opts)
  local bufnr, client = current_buffer_client()
  if client then
    local arguments = opts.args ~= "" and { opts.args } or {}
    lsp.execute(client, "minion.cancel", arguments, bufnr, function(result)
      notify(("run %s %s"):format(result.runId, result.status))
    end)
  end
end

--- The run of the minion diagnostic on the cursor's line, else the last run heard of
--- (with `ended_only`, only once it ended).
local function run_here(bufnr, ended_only)
  local row = vim.api.nvim_win_get_cursor(0)[1] - 1
  for _, diagnostic in ipairs(vim.diagnostic.get(bufnr, { lnum = row })) do
    if diagnostic.source == "minion" and diagnostic.code then
      return diagnostic.code
    end
  end
  local latest = lsp.state.latest
  if latest and (lsp.state.runs[latest].ended or not ended_only) then
    return latest
  end
end

--- The run a command is about, and its client: the run on the cursor's line in
--- :MinionRuns (a runs row), else `given` (an id), else run_here's; nil after saying why.
local function run_for_command(given, ended_only, usage)
  local bufnr = vim.api.nvim_get_current_buf()
  local row = given == "" and view_run(bufnr) or nil
  local client = runs_client(bufnr)
  if not client then
    return
  end
  if row then
    return row, client
  end
  local run_id = given ~= "" and given or run_here(bufnr, ended_only)
  if not run_id then
    return notify("which run? " .. usage, vim.log.levels.WARN)
  end
  return lsp.state.runs[run_id] or { id = run_id }, client
end

--- :MinionApply [id]: apply every change of a run to the open buffers.
function M.apply(opts)
  local bufnr, client = current_buffer_client()
  if not client then
    return
  end
  local run_id = opts.args ~= "" and opts.args or run_here(bufnr, true)
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
  local usage = ":MinionRevise in :MinionRuns, on a minion diagnostic, or after a run ended"
  local run, client = run_for_command("", true, usage)
  if run then
    M.revise_run(client, run, opts.args)
  end
end

--- :MinionLog [id]: the live log of a run (an id or its start); without one, the run on
--- the cursor's line (in :MinionRuns, or of a minion diagnostic), else the last run.
function M.log(opts)
  local run, client = run_for_command(vim.trim(opts.args or ""), false, ":MinionLog ID (see :MinionRuns)")
  if not run then
    return
  end
  -- The server's row: the full id for a short one, and whether the run ended.
  lsp.execute(client, "minion.showRun", { { runId = run.id } }, nil, function(row)
    require("minion.log").open(client, row)
  end)
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
  command("MinionRuns", function(opts)
    M.runs(nil, opts.bang and "all" or "workspace")
  end, { bang = true, desc = "minion's runs (!: of every repository), and what to do with one" })
  command("MinionLog", M.log, { nargs = "?", desc = "A minion run's live log" })
  command("MinionCancel", M.cancel, { nargs = "?", desc = "Cancel a minion run" })
  command("MinionRevise", M.revise, { nargs = "*", desc = "Send a minion run back with feedback" })
  command("MinionApply", M.apply, { nargs = "?", desc = "Apply a minion run's changes" })
  lsp.on_status = function(status)
    refresh_views()
    marks.update(status) -- a delegated selection's mark goes when its run ended
  end
  lsp.on_report = function(path, run_id)
    require("minion.report").open(path, run_id)
  end
  command("MinionAnswer", function(opts)
    local question = lsp.state.questions[1]
    if not question then
      return notify("no question from minion is waiting")
    end
    if opts.args ~= "" then
      return lsp.answer(question, opts.args)
    end
    vim.ui.select(question.actions, {
      prompt = question.message,
      kind = "minion_question",
      format_item = function(action)
        return action.title
      end,
    }, function(action)
      lsp.answer(question, action and action.title or nil)
    end)
  end, { nargs = "?", desc = "Answer minion's waiting question (trust a repository's blueprints)" })
  lsp.start(M.options)
end

return M
