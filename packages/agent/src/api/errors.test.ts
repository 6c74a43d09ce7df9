import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  Conflict,
  HostFailure,
  InUse,
  InvalidReference,
  InvalidRequest,
  NotFound,
  PoolExhausted,
  RequiresReplace,
  Unavailable,
} from '../errors.js';
import { errorResponse, MethodNotAllowed, PayloadTooLarge, Unauthorized } from './errors.js';

test('each error kind has one HTTP status; the body is {code, message, field?, retryable?}', () => {
  const cases = [
    [new InvalidRequest('x'), 400, 'invalid_request'],
    [new InvalidReference('x'), 400, 'invalid_reference'],
    [new Unauthorized('x'), 401, 'unauthorized'],
    [new NotFound('x', { code: 'domain_not_found' }), 404, 'domain_not_found'],
    [new MethodNotAllowed('x'), 405, 'method_not_allowed'],
    [new Conflict('x', { code: 'already_managed' }), 409, 'already_managed'],
    [new RequiresReplace('x'), 409, 'requires_replace'],
    [new InUse('x'), 409, 'in_use'],
    [new PoolExhausted('x'), 409, 'pool_exhausted'],
    [new PayloadTooLarge('x'), 413, 'body_too_large'],
    [new HostFailure('x', { code: 'libvirt_error' }), 500, 'libvirt_error'],
    [new Unavailable('x', { code: 'libvirt_unavailable' }), 503, 'libvirt_unavailable'],
  ] as const;
  for (const [e, status, code] of cases) {
    const r = errorResponse(e);
    assert.equal(r.status, status, code);
    assert.equal(r.body.code, code);
    assert.equal(r.internal, false);
  }
  assert.deepEqual(errorResponse(new Unavailable('down')).body, {
    code: 'unavailable',
    message: 'down',
    retryable: true,
  });
});

test('the field is the attribute path in the one path format; an unknown failure is a 500', () => {
  const e = new InvalidReference('subnet s does not exist', { field: ['networks', 0, 'subnet'] });
  assert.deepEqual(errorResponse(e).body, {
    code: 'invalid_reference',
    message: 'subnet s does not exist',
    field: 'networks[0].subnet',
  });
  // A driver's error blamed on an attribute by its caller keeps its kind and code.
  const blamed = new InvalidRequest('bad image', { code: 'image_has_backing_file' }).at(['source']);
  assert.ok(InvalidRequest.isInstance(blamed));
  assert.deepEqual(errorResponse(blamed), {
    status: 400,
    body: { code: 'image_has_backing_file', message: 'bad image', field: 'source' },
    internal: false,
  });
  assert.deepEqual(errorResponse(new TypeError('boom')), {
    status: 500,
    body: { code: 'internal', message: 'boom', retryable: false },
    internal: true,
  });
});
