/**
 * The server's root sources as the agent checks a request (validateResource): one of image, bootVolume
 * and installMedia, with the problem at bootVolume; a boot volume alone is a whole server.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { validateResource } from '../check.js';

const ID = (n: number) => `00000000-0000-4000-8000-00000000000${n}`;
const base = { networks: [{ network: ID(1) }] };

test('a server boots from an image or a volume, or installs from media: exactly one root source', () => {
  assert.deepEqual(validateResource('server', { ...base, bootVolume: ID(2) }), []);
  assert.deepEqual(validateResource('server', { ...base, image: ID(3) }), []);
  assert.deepEqual(
    validateResource('server', { ...base, image: ID(3), bootVolume: ID(2) }).map((p) => [
      p.path.join('.'),
      p.message,
    ]),
    [
      [
        'bootVolume',
        'conflicts with image: a server boots from an image (an overlay of it) or from a volume; set one of them',
      ],
    ],
  );
  const media = validateResource('server', {
    ...base,
    installMedia: ID(3),
    adminPass: 'Passw0rd!x',
    bootVolume: ID(2),
  });
  assert.deepEqual(
    media.map((p) => p.path.join('.')),
    ['bootVolume'],
  );
  assert.match(media[0]!.message, /^conflicts with installMedia/);
  assert.deepEqual(
    validateResource('server', { ...base }).map((p) => [p.path.join('.'), p.message]),
    [
      [
        'image',
        'is required (or bootVolume, to boot from a volume, or installMedia, to install from an ISO)',
      ],
    ],
  );
});
