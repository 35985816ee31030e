-- A run's report (<state>/reports/<id>.md, the server's markdown) as a formatted scratch
-- buffer, the same on Neovim 0.7 and 0.11: headings underlined, lists with bullets, tables
-- aligned, code blocks indented (a diff's lines coloured), and the inline marks (**bold**,
-- `code`, [links](url)) taken out and shown as highlights. `gm` opens the markdown itself.

local buffers = require("minion.buffers")

local M = {}

local ns = vim.api.nvim_create_namespace("minion_report")

-- MinionReport<name> links to Neovim's group of the same role.
local LINKS = {
  Title = "Title", Heading = "Title", Subheading = "Statement", Rule = "NonText",
  Bullet = "Special", Bold = "Statement", Code = "String", Link = "Underlined",
  TableHeader = "Statement", Added = "DiffAdd", Removed = "DiffDelete", Hunk = "Special",
}
for name, link in pairs(LINKS) do
  vim.cmd(("highlight default link MinionReport%s %s"):format(name, link))
end

local INDENT = "    "

--- Inline marks of one line: the text without them, and highlights { group, from, to }
--- (byte columns of the returned text, `to` exclusive).
local function inline(text)
  local out, marks = {}, {}
  local length = 0
  local function put(piece, group)
    if group and piece ~= "" then
      table.insert(marks, { group, length, length + #piece })
    end
    table.insert(out, piece)
    length = length + #piece
  end
  local i = 1
  while i <= #text do
    local ticks = text:match("^`+", i)
    if ticks then
      local close = text:find(ticks, i + #ticks, true)
      if close then
        put(vim.trim(text:sub(i + #ticks, close - 1)), "MinionReportCode")
        i = close + #ticks
      else
        put(ticks)
        i = i + #ticks
      end
    elseif text:sub(i, i + 1) == "**" and text:find("**", i + 2, true) then
      local close = text:find("**", i + 2, true)
      put(text:sub(i + 2, close - 1), "MinionReportBold")
      i = close + 2
    elseif text:sub(i, i) == "[" and text:match("^%[[^%]]*%]%([^%)]*%)", i) then
      local label, url = text:match("^%[([^%]]*)%]%(([^%)]*)%)", i)
      put(label, "MinionReportLink")
      put(" <" .. url .. ">")
      i = i + #label + #url + 4
    elseif text:sub(i, i) == "\\" and text:sub(i + 1, i + 1):match("[%p]") then
      put(text:sub(i + 1, i + 1))
      i = i + 2
    else
      local plain = text:match("^[^`%*%[\\]+", i) or text:sub(i, i)
      put(plain)
      i = i + #plain
    end
  end
  return table.concat(out), marks
end

--- The cells of a table row (`| a | b \| c |`), unescaped, trimmed.
local function cells(row)
  local body = vim.trim(row):gsub("^|", ""):gsub("|$", "")
  local result, cell = {}, {}
  local i = 1
  while i <= #body do
    local char = body:sub(i, i)
    if char == "\\" and body:sub(i + 1, i + 1) == "|" then
      table.insert(cell, "|")
      i = i + 2
    elseif char == "|" then
      table.insert(result, vim.trim(table.concat(cell)))
      cell = {}
      i = i + 1
    else
      table.insert(cell, char)
      i = i + 1
    end
  end
  table.insert(result, vim.trim(table.concat(cell)))
  return result
end

local function is_table_rule(row)
  return row:match("^%s*|[%s%-:|]+|%s*$") ~= nil
end

--- The report's markdown lines formatted: the lines to show, and their highlights
--- { line (0-based), group, from, to } (to = -1: to the end of the line).
function M.format(source)
  local lines, marks = {}, {}
  local function add(text, text_marks, group)
    table.insert(lines, text)
    local row = #lines - 1
    if group then
      table.insert(marks, { row, group, 0, -1 })
    end
    for _, mark in ipairs(text_marks or {}) do
      table.insert(marks, { row, mark[1], mark[2], mark[3] })
    end
  end
  local function shifted(text_marks, by)
    return vim.tbl_map(function(mark)
      return { mark[1], mark[2] + by, mark[3] + by }
    end, text_marks)
  end
  local i = 1
  while i <= #source do
    local line = source[i]
    local fence, lang = line:match("^(```+)%s*(%S*)%s*$")
    local level, heading = line:match("^(#+)%s+(.*)$")
    if fence then
      i = i + 1
      while i <= #source and not (source[i]:match("^```+%s*$") and #source[i]:match("^`+") >= #fence) do
        local code = source[i]
        local group = "MinionReportCode"
        if lang == "diff" then
          group = code:match("^@@") and "MinionReportHunk"
            or (code:match("^%+") and not code:match("^%+%+%+ ")) and "MinionReportAdded"
            or (code:match("^%-") and not code:match("^%-%-%- ")) and "MinionReportRemoved"
            or (code:match("^diff ") or code:match("^index ") or code:match("^%-%-%- ") or code:match("^%+%+%+ "))
              and "MinionReportBold"
            or nil
        end
        add(INDENT .. code, nil, group)
        i = i + 1
      end
    elseif level then
      local text, text_marks = inline(heading)
      local group = #level == 1 and "MinionReportTitle" or #level == 2 and "MinionReportHeading" or "MinionReportSubheading"
      add(text, text_marks, group)
      if #level <= 2 then
        local width = math.max(3, vim.fn.strdisplaywidth(text))
        add(string.rep(#level == 1 and "═" or "─", width), nil, "MinionReportRule")
      end
    elseif line:match("^%s*|") then
      local rows = {}
      while i <= #source and source[i]:match("^%s*|") do
        if not is_table_rule(source[i]) then
          table.insert(rows, vim.tbl_map(function(cell)
            return { inline(cell) }
          end, cells(source[i])))
        end
        i = i + 1
      end
      i = i - 1
      local widths = {}
      for _, row in ipairs(rows) do
        for c, cell in ipairs(row) do
          widths[c] = math.max(widths[c] or 0, vim.fn.strdisplaywidth(cell[1]))
        end
      end
      for r, row in ipairs(rows) do
        local parts, row_marks, at = {}, {}, #INDENT
        for c, cell in ipairs(row) do
          local padded = cell[1] .. string.rep(" ", widths[c] - vim.fn.strdisplaywidth(cell[1]))
          vim.list_extend(row_marks, shifted(cell[2], at))
          table.insert(parts, padded)
          at = at + #padded + 2
        end
        add(INDENT .. table.concat(parts, "  "), row_marks, r == 1 and "MinionReportTableHeader" or nil)
      end
    else
      local indent, rest = line:match("^(%s*)[%-%*]%s+(.*)$")
      if indent then
        local text, text_marks = inline(rest)
        local bullet = INDENT:sub(1, 2) .. indent .. "• "
        add(bullet .. text, shifted(text_marks, #bullet))
        table.insert(marks, { #lines - 1, "MinionReportBullet", #bullet - #"• ", #bullet })
      else
        local text, text_marks = inline(line)
        add(text, text_marks)
      end
    end
    i = i + 1
  end
  return lines, marks
end

--- Show the report at `path` (run `run_id`) in its buffer, `minion://report/<id>.md`,
--- formatted; the buffer is made again from the file each time.
function M.open(path, run_id)
  local source = vim.fn.filereadable(path) == 1 and vim.fn.readfile(path) or { "(no report at " .. path .. ")" }
  local bufnr, fresh = buffers.scratch(("minion://report/%s.md"):format(run_id))
  if fresh then
    buffers.map(bufnr, {
      { "q", "<Cmd>close<CR>", "close the report" },
      { "gm", function()
        vim.cmd("edit " .. vim.fn.fnameescape(vim.api.nvim_buf_get_var(bufnr, "minion_report_path")))
      end, "the report's markdown" },
    })
  end
  local lines, marks = M.format(source)
  buffers.set_lines(bufnr, 0, -1, lines)
  vim.bo[bufnr].filetype = "minionreport"
  vim.api.nvim_buf_set_var(bufnr, "minion_report_path", path)
  vim.api.nvim_buf_clear_namespace(bufnr, ns, 0, -1)
  for _, mark in ipairs(marks) do
    local row, group, from, to = mark[1], mark[2], mark[3], mark[4]
    local opts = { hl_group = group, end_row = row, end_col = to == -1 and #lines[row + 1] or to }
    if to == -1 then
      opts.hl_eol = true
    end
    vim.api.nvim_buf_set_extmark(bufnr, ns, row, from, opts)
  end
  local win = vim.fn.bufwinid(bufnr)
  if win ~= -1 then
    vim.api.nvim_set_current_win(win)
  else
    if vim.bo.filetype == "minionruns" or vim.bo.filetype == "minionlog" then
      vim.cmd("aboveleft split") -- not in place of the runs list or a log
    end
    vim.api.nvim_set_current_buf(bufnr)
  end
  vim.wo.wrap = true
  vim.wo.linebreak = true
  vim.wo.breakindent = vim.fn.exists("+breakindent") == 1
  pcall(vim.api.nvim_win_set_cursor, 0, { 1, 0 })
  return bufnr
end

M.namespace = ns

return M
