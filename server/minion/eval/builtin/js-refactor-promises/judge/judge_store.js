'use strict';
const assert = require('node:assert');
const { loadUser, greeting } = require('./store');

async function main() {
  const pending = loadUser(1);
  assert.ok(pending instanceof Promise, 'loadUser(id) should return a Promise');
  assert.deepStrictEqual(await pending, { id: 1, name: 'Ada' });
  assert.strictEqual(await greeting(2), 'Hello, Grace!');
  await assert.rejects(loadUser(99), { message: 'no user 99' });
  await assert.rejects(greeting(7), { message: 'no user 7' });
  assert.strictEqual(loadUser.length, 1, 'loadUser takes the id only');
  console.log('judge: promises ok');
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
