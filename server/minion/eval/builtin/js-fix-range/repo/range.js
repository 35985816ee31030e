'use strict';

// range(start, end, step = 1): the numbers from start up to, not including, end.
function range(start, end, step = 1) {
  if (step === 0) throw new RangeError('step must not be 0');
  const out = [];
  for (let i = start; i <= end; i += step) out.push(i);
  return out;
}

module.exports = { range };
