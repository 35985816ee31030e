-- :checkhealth minion

local M = {}

-- vim.health.start/ok/… from 0.10; vim.health.report_* in 0.8–0.9; require("health") in 0.7.
local health = vim.health or require("health")
local start = health.start or health.report_start
local ok = health.ok or health.report_ok
local warn = health.warn or health.report_warn
local report_error = health.error or health.report_error

local function executable(name, why)
  if vim.fn.executable(name) == 1 then
    ok(("%s: %s"):format(name, vim.fn.exepath(name)))
  else
    report_error(("%s not found: %s"):format(name, why), { "Debian/Ubuntu: sudo apt-get install " .. (name == "bwrap" and "bubblewrap" or name) })
  end
end

local function server_python(options)
  local cmd = options.cmd or { options.python, "-m", "minion.cli", "serve" }
  local python = cmd[1]
  if vim.fn.executable(python) ~= 1 then
    return report_error(("the server's Python (%s) is not executable"):format(python), {
      'Set python in require("minion").setup{ python = "/path/to/venv/bin/python" }',
    })
  end
  local out = vim.fn.system({ python, "-c", "import minion; print(minion.__version__)" })
  if vim.v.shell_error ~= 0 then
    return report_error(("minion is not installed in %s: %s"):format(python, vim.trim(out)), {
      -- minion is not on PyPI: it installs from a checkout of its repository.
      python .. " -m pip install /path/to/minion-checkout",
      'or setup{ python = "/path/to/minion-checkout/.venv/bin/python" } (`make setup` in the checkout makes it)',
    })
  end
  ok(("server: %s (minion %s)"):format(table.concat(cmd, " "), vim.trim(out)))
end

-- What the plugin sends as the `python` setting: worth seeing, it may be a guess.
local function project_python(options)
  local python, source = require("minion.lsp").project_python(options.settings)
  if python then
    ok(("project's Python: %s (from %s)"):format(python, source))
  else
    ok("project's Python: found by the server (the repository's .venv, Poetry, Pipenv, else python3)")
  end
end

local function model(options)
  local spec = options.settings.model
  if type(spec) == "string" and spec:match("^scripted:") then
    ok("model: " .. spec .. " (scripted: no API key needed)")
  elseif vim.env.ANTHROPIC_API_KEY and vim.env.ANTHROPIC_API_KEY ~= "" then
    ok("ANTHROPIC_API_KEY is set" .. (spec and (" (model " .. spec .. ")") or ""))
  else
    warn("ANTHROPIC_API_KEY is not set, and no scripted model is configured", {
      "export ANTHROPIC_API_KEY before starting Neovim",
      'or settings = { model = "scripted:/path/to/turns.json" } (or model in .minion/config.toml)',
    })
  end
end

local function clients()
  local running = require("minion.lsp").clients()
  for _, client in ipairs(running) do
    ok(("server running for %s (client %d)"):format(client.config.root_dir, client.id))
  end
  if #running == 0 then
    warn("no server is running", { "it starts for files inside a git repository" })
  end
end

function M.check()
  start("minion")
  local options = require("minion").options
  if not options then
    return report_error('not set up', { 'call require("minion").setup{} in your config' })
  end
  executable("git", "minion works on git repositories")
  executable("bwrap", "every command of a run goes through bubblewrap")
  server_python(options)
  project_python(options)
  model(options)
  clients()
end

return M
