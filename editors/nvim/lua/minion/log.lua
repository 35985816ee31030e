-- A run's live log: a scratch buffer `minion://log/<id>` fed by minion.runLog {runId, after}.
-- While the run is active it asks again with the answer's `next` (every half second, at
-- once when an answer was full); once the run ended (its minion/runStatus, or the row it
-- was opened from, says `ended`) one more answer gives the last lines and it stops.

local buffers = require("minion.buffers")
local lsp = require("minion.lsp")

local M = {}

local POLL_MS = 500
local FULL = 2000 -- the most lines one answer holds (docs/lsp.md): more are waiting

-- bufnr -> { client_id, run_id, next, ended, status, live, busy }
local logs = {}

local function is_null(value)
  return value == nil or value == vim.NIL
end

local function ended(log)
  local status = lsp.state.runs[log.run_id]
  if status then
    log.status = status.status
    return status.ended == true
  end
  return log.ended
end

local function header(log)
  local state = log.live and "live" or ("ended " .. tostring(log.status or ""))
  return ("minion log of run %s · %s · q close"):format(log.run_id, state)
end

local function set_header(bufnr, log)
  buffers.set_lines(bufnr, 0, 1, { header(log) })
end

local function append(bufnr, lines)
  if #lines == 0 then
    return
  end
  local text = {}
  for _, line in ipairs(lines) do
    local when = os.date("%H:%M:%S", math.floor(tonumber(line.ts) or 0))
    for i, part in ipairs(vim.split(line.text or "", "\n", { plain = true })) do
      table.insert(text, (i == 1 and when or "        ") .. "  " .. part)
    end
  end
  buffers.set_lines(bufnr, -1, -1, text)
  -- A window at the end of the log follows it.
  for _, win in ipairs(vim.fn.win_findbuf(bufnr)) do
    local count = vim.api.nvim_buf_line_count(bufnr)
    if vim.api.nvim_win_get_cursor(win)[1] >= count - #text then
      vim.api.nvim_win_set_cursor(win, { count, 0 })
    end
  end
end

local function poll(bufnr)
  local log = logs[bufnr]
  if not log or log.busy or not log.live or not vim.api.nvim_buf_is_valid(bufnr) then
    return
  end
  local client = vim.lsp.get_client_by_id(log.client_id)
  if not client then
    log.live = false
    return set_header(bufnr, log)
  end
  local over = ended(log) -- asked after the end: this answer has the last lines
  log.busy = true
  lsp.execute(client, "minion.runLog", { { runId = log.run_id, after = log.next } }, nil, function(result)
    log.busy = false
    if logs[bufnr] ~= log or not vim.api.nvim_buf_is_valid(bufnr) then
      return
    end
    local lines = type(result) == "table" and result.lines or {}
    append(bufnr, lines)
    log.next = type(result) == "table" and tonumber(result.next) or log.next
    if over and #lines < FULL then
      log.live = false
      ended(log)
      return set_header(bufnr, log)
    end
    if #lines >= FULL or ended(log) then
      return poll(bufnr)
    end
    log.polls = (log.polls or 0) + 1
    if not lsp.state.runs[log.run_id] and log.polls % 10 == 0 then
      -- No minion/runStatus for it (a run of another repository): its row says when it ended.
      lsp.execute(client, "minion.showRun", { { runId = log.run_id } }, nil, function(row)
        if type(row) == "table" then
          log.ended, log.status = row.ended ~= false, row.status
        end
      end, function()
        return true
      end)
    end
    vim.defer_fn(function()
      poll(bufnr)
    end, POLL_MS)
  end, function()
    log.busy = false
    log.live = false
    set_header(bufnr, log)
  end)
end

--- Open the live log of `run` (a runs row: id, ended, status) in a split at the bottom.
function M.open(client, run)
  local bufnr, fresh = buffers.scratch("minion://log/" .. run.id, { filetype = "minionlog" })
  if fresh then
    buffers.map(bufnr, { { "q", "<Cmd>close<CR>", "close the log" } })
    buffers.forget_on_wipeout(bufnr, logs)
  end
  buffers.show_at_bottom(bufnr)
  vim.wo.wrap = false
  local log = logs[bufnr]
  if log and log.live then
    return bufnr -- it follows the run already
  end
  log = {
    client_id = client.id,
    run_id = run.id,
    next = 0,
    ended = run.ended ~= false,
    status = not is_null(run.status) and run.status or nil,
    live = true,
  }
  logs[bufnr] = log
  buffers.set_lines(bufnr, 0, -1, { header(log) })
  poll(bufnr)
  return bufnr
end

--- Whether the log in `bufnr` still follows its run (for tests and the status of a view).
function M.live(bufnr)
  return logs[bufnr] ~= nil and logs[bufnr].live
end

return M
