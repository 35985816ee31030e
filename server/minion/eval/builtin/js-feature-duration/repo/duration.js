'use strict';

const UNITS = { ms: 1, s: 1000, m: 60 * 1000 };

// TODO(minion): parseDuration("1h30m") -> milliseconds: one or more <number><unit> parts, the
// units ms, s, m and h (add h to UNITS), decimals allowed ("1.5s"); throw an Error for anything else.
function parseDuration(text) {
  throw new Error(`not implemented: ${text}`);
}

function formatMs(ms) {
  return `${ms}ms`;
}

module.exports = { UNITS, parseDuration, formatMs };
