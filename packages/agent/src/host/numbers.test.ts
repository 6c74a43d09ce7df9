/** nextFree (numbers.ts): the first free number of a range from a seeded start, wrapping. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { nextFree } from './numbers.js';

test('the seeded start when free, else the next free one upward, wrapping from the top to the bottom', () => {
  assert.equal(nextFree(0, [1, 10], new Set()), 1);
  assert.equal(nextFree(13, [1, 10], new Set()), 4, 'seed 13 in a span of 10 starts at lo + 3');
  assert.equal(nextFree(3, [1, 10], new Set([4, 5])), 6);
  assert.equal(nextFree(9, [1, 10], new Set([10, 1, 2])), 3, 'past hi it goes on at lo');
  assert.equal(nextFree(5, [100, 100], new Set([7, 101])), 100, 'values outside the range do not count');
  // The same object gets the same number while it is free.
  assert.equal(nextFree(123_456, [1, 0xffff], new Set([9])), nextFree(123_456, [1, 0xffff], new Set([9])));
});

test('undefined when every number of the range is used; bad ranges and seeds are errors', () => {
  assert.equal(nextFree(2, [1, 3], new Set([1, 2, 3, 4])), undefined);
  assert.equal(nextFree(7, [1, 0xffff], new Set(Array.from({ length: 0xffff }, (_, i) => i + 1))), undefined);
  assert.throws(() => nextFree(0, [5, 4], new Set()), RangeError);
  assert.throws(() => nextFree(-1, [1, 4], new Set()), RangeError);
  assert.throws(() => nextFree(1.5, [1, 4], new Set()), RangeError);
});
