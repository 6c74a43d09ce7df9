import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeOwner, encodeOwner } from './wire.js';

test('owner header: round trip (any characters in a path), malformed values are ignored', () => {
  const owner = { tool: 'stratus', stack: 'web', backend: 'local', state: '/srv/état/stratus.state.json' };
  const header = encodeOwner(owner);
  assert.match(header, /^[\x21-\x7e]+$/, 'a header value of visible ASCII');
  assert.deepEqual(decodeOwner(header), owner);
  assert.deepEqual(decodeOwner(encodeOwner({ tool: 'terraform' })), { tool: 'terraform' });
  for (const bad of [undefined, '', '%', 'null', '[]', encodeURIComponent('{"stack":"x"}'), 'x'.repeat(5000)])
    assert.equal(decodeOwner(bad), undefined, String(bad));
  // Unknown keys and wrong types are dropped, not passed on.
  assert.deepEqual(decodeOwner(encodeURIComponent('{"tool":"stratus","stack":3,"extra":"y"}')), {
    tool: 'stratus',
  });
});
