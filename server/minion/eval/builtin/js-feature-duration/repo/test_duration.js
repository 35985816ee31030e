'use strict';
const assert = require('node:assert');
const { formatMs } = require('./duration');

assert.strictEqual(formatMs(250), '250ms');
console.log('ok');
