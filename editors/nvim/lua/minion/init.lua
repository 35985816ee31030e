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
    lsp.execute(client, "minion.delegate", { argument }, bufnr, started)
  end)
end

-- The server's "Delegate to minion…" action carries no instruction: ask for it here.
local function delegate_command(command, ctx)
  local argument = command.arguments[1]
  local client = vim.lsp.get_client_by_id(ctx.client_id)
  local function send()
    lsp.execute(client, "minion.delegate", { argument }, ctx.bufnr, started)
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
    lsp.execute(client, "minion.delegate", { argument }, bufnr, started)
  end
end

-- --- runs --------------------------------------------------------------------------------

--- When a run was created (seconds since the epoch, as the server sends it), in local time.
function M.local_time(epoch_seconds)
  return os.date("%Y-%m-%d %H:%M", math.floor(epoch_seconds))
end

local function format_run(run)
  local task = vim.split(run.task, "\n", { plain = true })[1]
  local branch = is_null(run.branch) and "-" or run.branch
  return ("%s  %s  %-13s $%.2f  %s  %s"):format(run.id, M.local_time(run.created_at), run.status, run.cost_usd or 0, branch, task)
end

--- What the server offers for the run, in its order.
local function run_actions(run)
  local actions = {}
  for _, command in ipairs(run.actions) do
    table.insert(actions, { title = ACTION_TITLES[command] or command, command = command })
  end
  return actions
end

--- :MinionRuns: pick a run, then what to do with it.
function M.runs()
  local bufnr = vim.api.nvim_get_current_buf()
  local client = client_here(bufnr)
  if not client then
    return
  end
  lsp.execute(client, "minion.runs", {}, bufnr, function(runs)
    if #runs == 0 then
      return notify("no runs yet; :MinionDelegate starts one")
    end
    vim.ui.select(runs, { prompt = "minion runs", format_item = format_run }, function(run)
      if not run then
        return
      end
      vim.ui.select(run_actions(run), {
        prompt = "run " .. run.id,
        format_item = function(action)
          return action.title
        end,
      }, function(action)
        if action then
          lsp.execute(client, action.command, { run.id }, bufnr, function(result)
            notify(action.title .. ": " .. vim.inspect(result, { newline = " ", indent = "" }))
          end)
        end
      end)
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

-- --- status ------------------------------------------------------------------------------

--- For the status line: "" when no run is active, else the count and what the newest does.
function M.status()
  if lsp.state.active == 0 then
    return ""
  end
  local latest = lsp.state.latest
  local doing = latest and (lsp.state.progress[latest] or lsp.state.runs[latest].node)
  local text = ("minion: %d active"):format(lsp.state.active)
  return is_null(doing) and text or (text .. " · " .. doing)
end

-- --- setup -------------------------------------------------------------------------------

local function command(name, fn, attributes)
  vim.api.nvim_create_user_command(name, fn, attributes)
end

function M.setup(opts)
  M.options = vim.tbl_deep_extend("force", defaults, opts or {})
  M.options.python = vim.fn.expand(M.options.python)
  vim.lsp.commands["minion.delegate"] = delegate_command
  command("MinionDelegate", M.delegate, { nargs = "*", range = true, desc = "Delegate lines to minion" })
  command("MinionTodo", M.todo, { range = true, desc = "Hand off the TODO here (or in the range) to minion" })
  command("MinionRuns", M.runs, { desc = "minion's runs, and what to do with one" })
  command("MinionCancel", M.cancel, { nargs = "?", desc = "Cancel a minion run" })
  command("MinionApply", M.apply, { nargs = "?", desc = "Apply a minion run's changes" })
  lsp.start(M.options)
end

return M
