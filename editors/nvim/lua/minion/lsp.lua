-- The minion language server in Neovim 0.7 through 0.11+: its client configuration,
-- how it is started on each version, requests, and the handlers the plugin adds
-- (minion/runStatus, minion/capabilities, progress, window/showMessageRequest, never modal,
-- and window/showDocument: a run's report, and all of it where Neovim lacks it). The
-- payloads are the server's wire types (docs/lsp.md): what a run offers and the TODO
-- markers come from the server, never from a copy here.

local M = {}

local uv = vim.uv or vim.loop

M.NAME = "minion"

local function has(version)
  return vim.fn.has("nvim-" .. version) == 1
end

-- What the status line shows; updated from the server's notifications.
M.state = {
  active = 0, -- runs queued or running, as the server counts them
  runs = {}, -- run id -> the last minion/runStatus for it
  latest = nil, -- the id of the run heard of last
  progress = {}, -- run id -> the last $/progress message
  ticks = 0, -- progress heard of: the status line's spinner turns with it
  todo_patterns = {}, -- client id -> the server's TODO markers (initialize, then minion/capabilities)
}

--- The git work tree holding a file (`.git` is a folder, or a file in worktrees).
function M.find_root(path)
  if path == "" then
    return nil
  end
  local dir = vim.fn.fnamemodify(path, ":p:h")
  while true do
    if uv.fs_stat(dir .. "/.git") then
      return dir
    end
    local parent = vim.fn.fnamemodify(dir, ":h")
    if parent == dir then
      return nil
    end
    dir = parent
  end
end

local function redraw_status()
  vim.cmd("redrawstatus")
  if vim.fn.exists("#User#MinionStatus") == 1 then
    vim.cmd("doautocmd <nomodeline> User MinionStatus")
  end
end

local function run_status(_, status)
  M.state.active = status.active
  M.state.runs[status.id] = status
  M.state.latest = status.id
  vim.schedule(function()
    redraw_status()
    if M.on_status then
      M.on_status(status)
    end
  end)
end

-- The initialize result's capabilities.experimental.minion, and minion/capabilities after it.
local function remember_capabilities(client_id, minion)
  if type(minion) == "table" and type(minion.todo_patterns) == "table" then
    M.state.todo_patterns[client_id] = minion.todo_patterns
  end
end

local function on_init(client, result)
  local experimental = type(result) == "table" and result.capabilities and result.capabilities.experimental
  remember_capabilities(client.id, type(experimental) == "table" and experimental.minion or nil)
end

local function capabilities_changed(_, minion, ctx)
  remember_capabilities(ctx.client_id, minion)
end

--- The TODO markers of the server behind a client ({} when it said none).
function M.todo_patterns(client)
  return M.state.todo_patterns[client.id] or {}
end

local has_progress_event = vim.fn.exists("##LspProgress") == 1

--- The LspProgress autocmd (0.10+) turns the status line's spinner on minion's progress.
function M.follow_progress()
  if not has_progress_event then
    return
  end
  vim.api.nvim_create_autocmd("LspProgress", {
    group = vim.api.nvim_create_augroup("minion_progress", { clear = true }),
    callback = function(args)
      local client = args.data and vim.lsp.get_client_by_id(args.data.client_id)
      if client and client.name == M.NAME then
        M.state.ticks = M.state.ticks + 1
        redraw_status()
      end
    end,
  })
end

-- $/progress: remember minion's messages for the status line, then let Neovim's own
-- handler do the rest (the LspProgress autocmd on 0.10+, client.messages before).
local function progress(err, result, ctx, config)
  local run_id = type(result) == "table" and type(result.token) == "string" and result.token:match("^minion%-(%w+)%-")
  if run_id and result.value then
    M.state.progress[run_id] = result.value.message or result.value.title
    if not has_progress_event then -- 0.10+: the LspProgress autocmd turns the spinner
      M.state.ticks = M.state.ticks + 1
    end
    vim.schedule(redraw_status)
  end
  return vim.lsp.handlers["$/progress"](err, result, ctx, config)
end

-- window/showDocument for Neovim 0.7, which has no handler for it.
local function show_document(_, params)
  local uri = params.uri
  if params.external or not uri:match("^file:") then
    local opener = vim.ui.open and function(target)
      return vim.ui.open(target)
    end or function(target)
      return vim.fn.jobstart({ "xdg-open", target }, { detach = true })
    end
    local ok = pcall(opener, uri)
    if not ok then
      vim.notify("minion: open " .. uri, vim.log.levels.INFO)
    end
    return { success = ok }
  end
  vim.cmd("edit " .. vim.fn.fnameescape(vim.uri_to_fname(uri)))
  if params.selection then
    local start = params.selection.start
    pcall(vim.api.nvim_win_set_cursor, 0, { start.line + 1, start.character })
  end
  return { success = true }
end

-- vim.notify as it was when the plugin loaded: Neovim's own echoes a message that is
-- longer than the command line with a hit-enter prompt, which would take a key typed then.
local stock_notify = vim.notify

--- A note that never blocks and never takes a key: one line, and when vim.notify is
--- Neovim's own, no wider than the command line (nvim-notify and the like get it whole).
--- `suffix` (a hint) is kept whole.
function M.note(message, level, suffix)
  message = message:gsub("%s*\n%s*", " ")
  suffix = suffix or ""
  if vim.notify == stock_notify then
    local room = math.max(20, (vim.v.echospace or vim.o.columns) - 1) - vim.fn.strdisplaywidth(suffix)
    if vim.fn.strdisplaywidth(message) > room then
      message = vim.fn.strcharpart(message, 0, room - 1) .. "…"
    end
  end
  vim.notify(message .. suffix, level or vim.log.levels.INFO)
end

--- The run a message of the server names ("minion run <id> ok: …"), if it names one.
local function run_named(params)
  return type(params.message) == "string" and params.message:match("^minion run (%w+)") or nil
end

--- An end-of-run message: it names a run whose last minion/runStatus says it `ended`
--- (the server says the end there before it announces it).
local function end_of_run(params)
  local run = M.state.runs[run_named(params) or ""]
  return run ~= nil and run.ended == true
end

-- Questions of the server waiting for the user's answer (:MinionAnswer), oldest first:
-- { client_id, message, actions, answer = function(action or vim.NIL) }.
M.state.questions = {}
-- client id -> message -> the action the user chose, for a question asked again (0.7-0.9:
-- see message_request).
local answered = {}

--- What the plugin knows of the delegation a client is sending, if any (set by init.lua):
--- the answer to a question met by it starts it again where Neovim cannot wait.
M.delegation_in_flight = function(_)
  return nil
end

local function levels_of(params)
  local levels = { vim.log.levels.ERROR, vim.log.levels.WARN }
  return levels[params.type] or vim.log.levels.INFO
end

--- Answer a waiting question with the action titled `title` (nil: dismiss it, vim.NIL).
function M.answer(question, title)
  for i, waiting in ipairs(M.state.questions) do
    if waiting == question then
      table.remove(M.state.questions, i)
      break
    end
  end
  local action = vim.NIL
  for _, candidate in ipairs(question.actions) do
    if candidate.title == title then
      action = candidate
    end
  end
  question.answer(action)
  return action
end

-- window/showMessageRequest, never modal. Neovim asks it with a prompt (inputlist, or
-- vim.ui.select on 0.10+, often an inputlist too) that takes the keys of a user who types
-- when it comes, and a digit + Enter would answer it. So:
-- - the end of a run is only told (vim.notify) and answered "dismissed": what to do with
--   the run is in :MinionRuns and the code actions;
-- - any other question (trusting a repository's blueprints) is told, and waits for
--   :MinionAnswer. Where the request can wait (0.10+ runs it in a coroutine), it is
--   answered then; before, it is answered "dismissed" at once, and the answer given later
--   is kept for the same question: the delegation that met it is sent again, the server
--   asks the same (the files and their hashes are in the message) and gets that answer.
local function message_request(_, params, ctx)
  local client_id = ctx and ctx.client_id
  local text = "minion: " .. params.message:gsub("^minion ", "")
  if end_of_run(params) then
    vim.schedule(function()
      M.note(text, levels_of(params), " (:MinionRuns)")
    end)
    return vim.NIL
  end
  local given = answered[client_id] and answered[client_id][params.message]
  if given then
    answered[client_id][params.message] = nil
    return given
  end
  local question = { client_id = client_id, message = params.message, actions = params.actions or {} }
  table.insert(M.state.questions, question)
  vim.schedule(function()
    M.note(text, levels_of(params), " (:MinionAnswer)")
    if M.on_question then
      M.on_question(question)
    end
  end)
  local co, is_main = coroutine.running()
  if co and not is_main then
    question.answer = function(action)
      vim.schedule(function()
        coroutine.resume(co, action)
      end)
    end
    return coroutine.yield()
  end
  local delegation = M.delegation_in_flight(client_id)
  if delegation then
    delegation.questioned = true -- its error ("not trusted") is this question: not shown again
  end
  question.answer = function(action)
    if action ~= vim.NIL and delegation then
      answered[client_id] = answered[client_id] or {}
      answered[client_id][params.message] = action
      delegation.again()
    end
  end
  return vim.NIL
end

-- window/showMessage: Neovim's handler, but not for the error that repeats a question still
-- waiting for :MinionAnswer. Where the question cannot wait (before 0.10) the server takes
-- the "dismissed" for a no and says why the delegation failed (the question's own text):
-- the user has just been told that, and their answer will send the delegation again.
local builtin_show_message = vim.lsp.handlers["window/showMessage"]
local function show_message(err, params, ctx, config)
  local said = type(params.message) == "string" and params.message:gsub("^minion: ", ""):match("^[^\n]*") or ""
  for _, question in ipairs(M.state.questions) do
    if said ~= "" and question.client_id == ctx.client_id and vim.startswith(question.message, said) then
      return vim.NIL
    end
  end
  return builtin_show_message(err, params, ctx, config)
end

-- window/showDocument: a run's report (<state>/reports/<id>.md) opens as a formatted
-- buffer (M.on_report); anything else goes to Neovim's handler, or to show_document on
-- 0.7, which has none.
local builtin_show_document = vim.lsp.handlers["window/showDocument"]
local function show_document_or_report(err, params, ctx, config)
  local uri = type(params) == "table" and params.uri or ""
  if not params.external and uri:match("^file:") and M.on_report then
    local path = vim.uri_to_fname(uri)
    local run_id = path:match("/reports/(%w+)%.md$")
    if run_id then
      vim.schedule(function()
        M.on_report(path, run_id)
      end)
      return { success = true }
    end
  end
  if builtin_show_document then
    return builtin_show_document(err, params, ctx, config)
  end
  return show_document(err, params, ctx, config)
end

local function handlers()
  local own = {
    ["minion/runStatus"] = run_status,
    ["minion/capabilities"] = capabilities_changed,
    ["$/progress"] = progress,
  }
  own["window/showDocument"] = show_document_or_report
  own["window/showMessageRequest"] = message_request
  own["window/showMessage"] = show_message
  return own
end

local function on_exit(code, signal)
  if code ~= 0 and signal == 0 then
    vim.schedule(function()
      vim.notify(
        ("minion: the server exited with code %d; :checkhealth minion says why"):format(code),
        vim.log.levels.ERROR
      )
    end)
  end
end

--- The project's Python for the server's `python` setting (the checks run with it), and
--- where it came from: settings.python, else the active virtualenv, else Neovim's python3
--- provider; nil leaves it to the server to find.
function M.project_python(settings)
  if settings.python then
    return settings.python, "settings.python"
  end
  local venv = vim.env.VIRTUAL_ENV
  if venv and venv ~= "" then
    return venv .. "/bin/python", "VIRTUAL_ENV"
  end
  local host_prog = vim.g.python3_host_prog
  if type(host_prog) == "string" and host_prog ~= "" then
    return vim.fn.expand(host_prog), "g:python3_host_prog" -- often written with ~ or $HOME
  end
end

--- The client configuration for the options given to setup().
function M.config(opts)
  local capabilities = vim.lsp.protocol.make_client_capabilities()
  capabilities.window = capabilities.window or {}
  capabilities.window.showDocument = { support = true } -- see show_document
  local settings = vim.tbl_extend("force", opts.settings, { python = M.project_python(opts.settings) })
  return {
    name = M.NAME,
    cmd = opts.cmd or { opts.python, "-m", "minion.cli", "serve" },
    init_options = { settings = settings, promptForInstruction = true },
    settings = { minion = settings }, -- answers workspace/configuration
    capabilities = capabilities,
    handlers = handlers(),
    on_init = on_init,
    on_exit = on_exit,
  }
end

local function usable(bufnr)
  return vim.bo[bufnr].buftype == "" and vim.api.nvim_buf_get_name(bufnr) ~= ""
end

--- Start the server for every file in a git repository (one client per repository).
function M.start(opts)
  M.follow_progress()
  local config = M.config(opts)
  if vim.lsp.config and vim.lsp.enable then -- 0.11+
    config.filetypes = opts.filetypes
    config.root_dir = function(bufnr, on_dir)
      local root = usable(bufnr) and M.find_root(vim.api.nvim_buf_get_name(bufnr))
      if root then
        on_dir(root)
      end
    end
    vim.lsp.config(M.NAME, config)
    vim.lsp.enable(M.NAME)
    return
  end
  local by_root = {} -- root -> client id
  local function attach(bufnr)
    local root = usable(bufnr) and M.find_root(vim.api.nvim_buf_get_name(bufnr))
    if not root then
      return
    end
    local id = by_root[root]
    if not id or not vim.lsp.get_client_by_id(id) then
      id = vim.lsp.start_client(vim.tbl_extend("force", config, {
        root_dir = root,
        workspace_folders = { { uri = vim.uri_from_fname(root), name = root } },
      }))
      by_root[root] = id
    end
    if id then
      vim.lsp.buf_attach_client(bufnr, id)
    end
  end
  vim.api.nvim_create_autocmd("FileType", {
    group = vim.api.nvim_create_augroup("minion", { clear = true }),
    pattern = opts.filetypes or "*",
    callback = function(args)
      attach(args.buf)
    end,
  })
  for _, bufnr in ipairs(vim.api.nvim_list_bufs()) do -- files opened before setup()
    if vim.api.nvim_buf_is_loaded(bufnr) and vim.bo[bufnr].filetype ~= "" then
      attach(bufnr)
    end
  end
end

--- minion's client for a buffer, if attached.
function M.client(bufnr)
  if vim.lsp.get_clients then -- 0.10+
    return vim.lsp.get_clients({ bufnr = bufnr, name = M.NAME })[1]
  end
  for _, client in pairs(vim.lsp.buf_get_clients(bufnr)) do
    if client.name == M.NAME then
      return client
    end
  end
end

--- Every running minion client (one per repository).
function M.clients()
  if vim.lsp.get_clients then -- 0.10+
    return vim.lsp.get_clients({ name = M.NAME })
  end
  return vim.tbl_filter(function(client)
    return client.name == M.NAME
  end, vim.lsp.get_active_clients())
end

--- client:<name>(…) on 0.11+ (a method), client.<name>(…) before (a function).
local function call(client, name, ...)
  if has("0.11") then
    return client[name](client, ...)
  end
  return client[name](...)
end

function M.request(client, method, params, handler, bufnr)
  return call(client, "request", method, params, handler, bufnr)
end

function M.request_sync(client, method, params, timeout_ms, bufnr)
  return call(client, "request_sync", method, params, timeout_ms, bufnr)
end

--- workspace/executeCommand; on_result(result) runs on success, errors are shown unless
--- on_error(err) says it took care of it (returns true).
function M.execute(client, command, arguments, bufnr, on_result, on_error)
  M.request(client, "workspace/executeCommand", { command = command, arguments = arguments }, function(err, result)
    if err and on_error and on_error(err) then
      return
    elseif err then
      vim.notify(("minion: %s: %s"):format(command, err.message or vim.inspect(err)), vim.log.levels.ERROR)
    elseif on_result then
      on_result(result)
    end
  end, bufnr)
end

--- UTF-16 length of a line, for a position at its end.
function M.utf16_len(text)
  if has("0.11") then
    return vim.str_utfindex(text, "utf-16")
  end
  local _, utf16 = vim.str_utfindex(text)
  return utf16
end

return M
