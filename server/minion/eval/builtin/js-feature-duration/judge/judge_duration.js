'use strict';
const assert = require('node:assert');
const fs = require('node:fs');
const { UNITS, parseDuration } = require('./duration');

assert.strictEqual(parseDuration('250ms'), 250);
assert.strictEqual(parseDuration('1.5s'), 1500);
assert.strictEqual(parseDuration('2m5s'), 125000);
assert.strictEqual(parseDuration('1h30m'), 5400000);
assert.strictEqual(parseDuration('1h1m1s1ms'), 3661001);
assert.strictEqual(UNITS.h, 3600000);
for (const bad of ['', 'h', '10', '5x', '1h30', 'ms', '1.s']) {
  assert.throws(() => parseDuration(bad), Error, `parseDuration(${JSON.stringify(bad)}) should throw`);
}
assert.ok(!fs.readFileSync('duration.js', 'utf8').includes('TODO(minion)'), 'the TODO is still there');
console.log('judge: parseDuration ok');
