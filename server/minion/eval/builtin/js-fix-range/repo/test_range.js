'use strict';
const assert = require('node:assert');
const { range } = require('./range');

assert.throws(() => range(0, 3, 0), RangeError);
console.log('ok');
