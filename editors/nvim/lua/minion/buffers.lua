-- The read-only scratch buffers the plugin shows (the runs list, a run's log, its report,
-- the sides of a diff): made once per name, written only through set_lines.

local M = {}

--- The buffer named `name`, made when there is none (`fresh` then): not a file, no swap
--- file, read-only, kept when hidden (bufhidden `hide`, or opts.bufhidden); opts.filetype.
function M.scratch(name, opts)
  opts = opts or {}
  local existing = vim.fn.bufnr("^" .. name .. "$")
  if existing > 0 then
    return existing, false
  end
  local bufnr = vim.api.nvim_create_buf(false, true)
  vim.api.nvim_buf_set_name(bufnr, name)
  vim.bo[bufnr].buftype = "nofile"
  vim.bo[bufnr].bufhidden = opts.bufhidden or "hide"
  vim.bo[bufnr].swapfile = false
  vim.bo[bufnr].modifiable = false
  if opts.filetype then
    vim.bo[bufnr].filetype = opts.filetype
  end
  return bufnr, true
end

--- Replace lines first..last (0-based, end exclusive, -1: the end) of a read-only buffer.
function M.set_lines(bufnr, first, last, lines)
  vim.bo[bufnr].modifiable = true
  vim.api.nvim_buf_set_lines(bufnr, first, last, false, lines)
  vim.bo[bufnr].modifiable = false
  vim.bo[bufnr].modified = false
end

--- Go to the buffer's window, else show it in a split at the bottom.
function M.show_at_bottom(bufnr)
  local win = vim.fn.bufwinid(bufnr)
  if win ~= -1 then
    vim.api.nvim_set_current_win(win)
  else
    vim.cmd("botright 12split")
    vim.api.nvim_win_set_buf(0, bufnr)
  end
end

--- Normal-mode keys of a buffer: { { lhs, function, description }, … }.
function M.map(bufnr, keys)
  for _, key in ipairs(keys) do
    vim.keymap.set("n", key[1], key[2], { buffer = bufnr, nowait = true, desc = "minion: " .. key[3] })
  end
end

--- Forget a buffer's state (`states[bufnr]`) when it is wiped out.
function M.forget_on_wipeout(bufnr, states)
  vim.api.nvim_create_autocmd("BufWipeout", {
    buffer = bufnr,
    callback = function()
      states[bufnr] = nil
    end,
  })
end

return M
