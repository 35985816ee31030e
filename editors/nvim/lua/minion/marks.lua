-- A delegated selection is marked while its run is active: its lines get a subtle
-- highlight (MinionDelegated) and the first one the run's progress as virtual text
-- (MinionDelegatedText). The server does not send the selection's range back (a runs row
-- and minion/runStatus carry none), so the plugin keeps the range it delegated, as an
-- extmark that moves with the user's edits; the mark goes when minion/runStatus says the
-- run `ended`.

local M = {}

M.namespace = vim.api.nvim_create_namespace("minion_delegated")

vim.cmd("highlight default link MinionDelegated CursorLine")
vim.cmd("highlight default link MinionDelegatedText Comment")

-- run id -> { bufnr, id } of its mark
local marks = {}

local function label(run_id, status)
  local doing = status and type(status.title) == "string" and status.title ~= "" and status.title
    or (status and status.status)
    or "queued"
  return { { ("  minion %s · %s"):format(run_id, doing), "MinionDelegatedText" } }
end

--- Mark lines first..last (0-based, inclusive) of `bufnr` for run `run_id`, unless the run
--- has ended already (`status`: its last minion/runStatus, if any).
function M.place(bufnr, run_id, first, last, status)
  if status and status.ended == true or not vim.api.nvim_buf_is_valid(bufnr) then
    return
  end
  M.clear(run_id)
  local count = vim.api.nvim_buf_line_count(bufnr)
  first = math.max(0, math.min(first, count - 1))
  last = math.max(first, math.min(last, count - 1))
  local last_text = vim.api.nvim_buf_get_lines(bufnr, last, last + 1, true)[1]
  local id = vim.api.nvim_buf_set_extmark(bufnr, M.namespace, first, 0, {
    end_row = last,
    end_col = #last_text,
    hl_group = "MinionDelegated",
    hl_eol = true,
    virt_text = label(run_id, status),
    virt_text_pos = "eol",
    priority = 50,
  })
  marks[run_id] = { bufnr = bufnr, id = id }
end

--- Remove a run's mark.
function M.clear(run_id)
  local mark = marks[run_id]
  marks[run_id] = nil
  if mark and vim.api.nvim_buf_is_valid(mark.bufnr) then
    pcall(vim.api.nvim_buf_del_extmark, mark.bufnr, M.namespace, mark.id)
  end
end

--- minion/runStatus: the mark shows the run's progress, and goes once it ended.
function M.update(status)
  local mark = marks[status.id]
  if not mark then
    return
  end
  if status.ended == true or not vim.api.nvim_buf_is_valid(mark.bufnr) then
    return M.clear(status.id)
  end
  local ok, where = pcall(vim.api.nvim_buf_get_extmark_by_id, mark.bufnr, M.namespace, mark.id, { details = true })
  if not ok or not where or #where < 2 then
    return
  end
  local details = where[3] or {}
  pcall(vim.api.nvim_buf_set_extmark, mark.bufnr, M.namespace, where[1], where[2], {
    id = mark.id,
    end_row = details.end_row,
    end_col = details.end_col,
    hl_group = "MinionDelegated",
    hl_eol = true,
    virt_text = label(status.id, status),
    virt_text_pos = "eol",
    priority = 50,
  })
end

--- The runs whose mark is shown, and where: run id -> { bufnr, first, last } (0-based).
function M.shown()
  local shown = {}
  for run_id, mark in pairs(marks) do
    if vim.api.nvim_buf_is_valid(mark.bufnr) then
      local where = vim.api.nvim_buf_get_extmark_by_id(mark.bufnr, M.namespace, mark.id, { details = true })
      if where and #where >= 2 then
        shown[run_id] = { bufnr = mark.bufnr, first = where[1], last = (where[3] or {}).end_row or where[1] }
      end
    end
  end
  return shown
end

return M
