'use strict';

const USERS = new Map([
  [1, { id: 1, name: 'Ada' }],
  [2, { id: 2, name: 'Grace' }],
]);

function loadUser(id, callback) {
  setImmediate(() => {
    const user = USERS.get(id);
    if (!user) callback(new Error(`no user ${id}`));
    else callback(null, user);
  });
}

function greeting(id, callback) {
  loadUser(id, (err, user) => {
    if (err) return callback(err);
    callback(null, `Hello, ${user.name}!`);
  });
}

module.exports = { loadUser, greeting };
