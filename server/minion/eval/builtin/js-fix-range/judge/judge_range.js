'use strict';
const assert = require('node:assert');
const { range } = require('./range');

assert.deepStrictEqual(range(0, 3), [0, 1, 2]);
assert.deepStrictEqual(range(2, 2), []);
assert.deepStrictEqual(range(1, 10, 4), [1, 5, 9]);
assert.deepStrictEqual(range(5, 0, -2), [5, 3, 1]);
assert.deepStrictEqual(range(3, 0, -1), [3, 2, 1]);
assert.deepStrictEqual(range(0, 3, -1), []);
assert.deepStrictEqual(range(3, 0), []);
assert.throws(() => range(0, 3, 0), RangeError);
console.log('judge: range ok');
