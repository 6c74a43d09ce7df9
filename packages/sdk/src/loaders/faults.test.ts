/**
 * Issue 7's findings on the schema side, each with the input users tried and its right outcome: an
 * error at file:line:column naming the field, before anything reaches a host. Run in-process, exactly as
 * `stratus validate` loads and checks a stack.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { formatDiagnosticsCapped } from '../diagnostics/limits.js';
import { checkStack } from '../engine/check.js';
import { parseDuration } from '../engine/normalize.js';
import { MemoryHandlers } from '../testing/memory-handlers.js';

/** Providers for checks (validation is pure). */
const checkProviders = new MemoryHandlers().providers;

import { firstInvalidUtf8, loadStackText } from './stack-yaml.js';
import { aliasBomb, STACK_FILE, validateStack } from './validate.test-support.js';

const BASE = `resources:
  img:
    type: image
    properties:
      source: /images/guest.qcow2
  net:
    type: network
  sub:
    type: subnet
    properties:
      network: \${net}
      cidr: 10.62.1.0/24
  web:
    type: server
    properties:
      image: \${img}
      networks:
        - subnet: \${sub}
`;

/** BASE with extra lines after the server's `properties:` line (indented for it). */
const server = (extra: string) => BASE.replace('      image: ${img}\n', `      image: \${img}\n${extra}`);

/** Asserts exactly one error, at `where` (line:column), on `field`, matching `message`. */
function expectError(text: string | Uint8Array, where: string, field: string | undefined, message: RegExp) {
  const lines = validateStack(text);
  const prefix = `${STACK_FILE}:${where}: error: ${field ? `${field}: ` : ''}`;
  const line = lines.find((l) => l.startsWith(prefix));
  assert.ok(line, `expected an error starting with ${prefix}\ngot:\n${lines.join('\n')}`);
  assert.match(line, message);
}

describe('finding 1: values a host tool refuses are refused at validate', () => {
  test('the valid base stack validates', () => {
    assert.deepEqual(validateStack(BASE), []);
  });

  for (const name of ['12h', '600', '45m', '7d', 'infinite', 'IGNORE'])
    test(`a server named ${name} (its derived host name) is refused at its name`, () => {
      expectError(
        server(`      name: "${name}"\n`),
        '17:7',
        'resources.web.properties.name',
        /host name .*dnsmasq reads it as a lease time or a keyword.*set `hostname`/,
      );
    });

  test('hostname "600" and "12h" are refused at the hostname', () => {
    for (const h of ['600', '12h'])
      expectError(
        server(`      hostname: "${h}"\n`),
        '17:7',
        'resources.web.properties.hostname',
        new RegExp(`"${h}" cannot be a host name: dnsmasq reads it as a lease time`),
      );
  });

  test('a server named 12h with a valid hostname is fine; a name that derives to nothing is fine', () => {
    assert.deepEqual(validateStack(server('      name: "12h"\n      hostname: web-12h\n')), []);
    assert.deepEqual(validateStack(server('      name: "---"\n')), []);
  });

  test('a resource named _600 (the default server name) derives host name 600: refused', () => {
    const text = BASE.replace('  web:\n', '  _600:\n');
    const lines = validateStack(text);
    assert.ok(
      lines.some((l) => l.includes('resources._600.properties.name: gives the guest host name "600"')),
      lines.join('\n'),
    );
  });

  test('display names with line breaks or control characters (libvirt <title>) are refused', () => {
    expectError(
      BASE.replace('    type: network\n', '    type: network\n    properties:\n      name: "a\\nb"\n'),
      '9:7',
      'resources.net.properties.name',
      /control characters or line breaks/,
    );
  });

  test('a public key with a line break (a second authorized key) is refused', () => {
    expectError(
      server('      publicKeys:\n        me: "ssh-ed25519 AAAA me\\nssh-rsa BBBB evil"\n'),
      '18:9',
      'resources.web.properties.publicKeys.me',
      /one line without control characters/,
    );
  });

  test('an adminPass with a line break (chpasswd would read a second account) is refused, not echoed', () => {
    const lines = validateStack(server('      adminPass: "s3cret-pw\\nroot:owned"\n'));
    const line = lines.find((l) => l.includes('resources.web.properties.adminPass'));
    assert.match(line ?? '', /^\/virtual\/stack.yaml:17:7: error: .*control characters or line breaks/);
    assert.doesNotMatch(lines.join('\n'), /s3cret|owned/);
  });

  test('an image source with a NUL character is refused', () => {
    expectError(
      BASE.replace('source: /images/guest.qcow2', 'source: "/images/guest\\0.qcow2"'),
      '5:7',
      'resources.img.properties.source',
      /NUL/,
    );
  });

  test('more than 100 public keys are refused', () => {
    const keys = Array.from({ length: 101 }, (_, i) => `        k${i}: ssh-ed25519 AAAA k${i}\n`).join('');
    expectError(
      server(`      publicKeys:\n${keys}`),
      '17:7',
      'resources.web.properties.publicKeys',
      /must NOT have more than 100 properties/,
    );
  });

  test('an unpaired surrogate (no UTF-8 form) in user data is refused', () => {
    expectError(
      server('      userData: "#!/bin/sh\\n\\ud800"\n'),
      '17:7',
      'resources.web.properties.userData',
      /unpaired UTF-16 surrogate/,
    );
  });
});

describe('finding 2: a subnet or pool without room for the DHCP port and one server', () => {
  test('/30: the gateway takes .1, DHCP .2, nothing is left', () => {
    expectError(
      BASE.replace('10.62.1.0/24', '10.62.1.0/30'),
      '12:7',
      'resources.sub.properties.cidr',
      /10\.62\.1\.0\/30 has 2 host addresses: the gateway takes 10\.62\.1\.1 and the DHCP port 10\.62\.1\.2, leaving none for a server; use a \/29/,
    );
  });

  for (const p of ['31', '32'])
    test(`/${p} is refused saying why`, () => {
      expectError(
        BASE.replace('10.62.1.0/24', `10.62.1.0/${p}`),
        '12:7',
        'resources.sub.properties.cidr',
        /no host address.* for the gateway, the DHCP port and a server; the smallest usable subnet is a \/29/,
      );
    });

  test('/29 is fine', () => {
    assert.deepEqual(validateStack(BASE.replace('10.62.1.0/24', '10.62.1.0/29')), []);
  });

  test('a pool of one address is refused; two are fine', () => {
    const pool = (end: string) =>
      BASE.replace(
        '      cidr: 10.62.1.0/24\n',
        `      cidr: 10.62.1.0/24\n      allocationPools:\n        - start: 10.62.1.10\n          end: ${end}\n`,
      );
    expectError(
      pool('10.62.1.10'),
      '13:7',
      'resources.sub.properties.allocationPools',
      /the pools hold 1 address; they need at least 2: one for the DHCP port and one for a server/,
    );
    assert.deepEqual(validateStack(pool('10.62.1.11')), []);
  });
});

describe('finding 6: durations in Terraform form, bounded at validate', () => {
  test('compound forms parse', () => {
    assert.equal(parseDuration('1h30m'), 90 * 60_000);
    assert.equal(parseDuration('90s'), 90_000);
    assert.equal(parseDuration('2h45m10s'), (2 * 3600 + 45 * 60 + 10) * 1000);
    assert.equal(parseDuration('500ms'), 500);
    assert.equal(parseDuration('1m500ms'), 60_500);
    for (const bad of ['', '1', 'h', '30m1h', '1h1h', '-1s', '1 h', '1.h', 'soon', '1e3s'])
      assert.equal(parseDuration(bad), undefined, bad);
  });

  const timeouts = (t: string) =>
    BASE.replace('    type: network\n', `    type: network\n    timeouts: {create: ${t}}\n`);

  test('1h30m is accepted in a stack', () => {
    assert.deepEqual(validateStack(timeouts('1h30m')), []);
  });

  test('600h (beyond a Node timer) is refused at validate with a clear message', () => {
    expectError(
      timeouts('600h'),
      '8:16',
      'resources.net.timeouts.create',
      /600h is longer than the limit of 24h for one operation/,
    );
  });

  test('every accepted duration fits a Node timer', () => {
    assert.equal(validateStack(timeouts('24h')).length, 0);
    assert.ok(parseDuration('24h')! <= 2 ** 31 - 1);
    assert.match(validateStack(timeouts('24h0m0s1ms')).join('\n'), /longer than the limit of 24h/);
  });
});

describe('finding 16: no input crashes validate; limits are schema errors', () => {
  const pools = (v: string) =>
    BASE.replace('      cidr: 10.62.1.0/24\n', `      cidr: 10.62.1.0/24\n      allocationPools: ${v}\n`);

  test('allocationPools: [{start: 1, end: 2}] is a diagnostic, not a TypeError', () => {
    const lines = validateStack(pools('[{start: 1, end: 2}]'));
    assert.ok(lines.length > 0);
    assert.ok(
      lines.every((l) => l.startsWith(`${STACK_FILE}:13:`)),
      lines.join('\n'),
    );
    assert.match(lines.join('\n'), /allocationPools\[0\]\.start: must be string/);
  });

  test('allocationPools: [5] is a diagnostic, not a TypeError', () => {
    expectError(pools('[5]'), '13:25', 'resources.sub.properties.allocationPools[0]', /must be object/);
  });

  test('a 1 MiB public key is refused (OpenSSH keys are < 16 KiB)', () => {
    const key = `ssh-rsa ${'A'.repeat(1024 * 1024)} big`;
    expectError(
      server(`      publicKeys:\n        big: "${key}"\n`),
      '18:9',
      'resources.web.properties.publicKeys.big',
      /an SSH public key is at most 16384 bytes/,
    );
  });

  test('a metadata, public key or extra spec key outside its pattern is an error at the key, saying what a key must be', () => {
    // The keys used to pass: JSON Schema's patternProperties alone checks only keys that match it.
    expectError(
      server('      metadata:\n        "bad/key": x\n'),
      '18:9',
      'resources.web.properties.metadata.bad/key',
      /is not a valid key: must be 1 to 255 letters, digits, spaces or -_:\. \(as Nova takes metadata keys\)/,
    );
    expectError(
      server('      metadata:\n        "": x\n'),
      '18:9',
      'resources.web.properties.metadata.',
      /is not a valid key/,
    );
    expectError(
      server('      publicKeys:\n        "my key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA x"\n'),
      '18:9',
      'resources.web.properties.publicKeys.my key',
      /is not a valid key: must be 1 to 255 letters, digits or -_\./,
    );
    const flavor = `${BASE}  small:\n    type: flavor\n    properties:\n      vcpus: 1\n      ramMb: 128\n      extraSpecs:\n        "hw:cpu_policy!": dedicated\n`;
    expectError(
      flavor,
      '25:9',
      'resources.small.properties.extraSpecs.hw:cpu_policy!',
      /is not a valid key: must be 1 to 255 letters/,
    );
    // What Nova takes passes, spaces included.
    assert.deepEqual(
      validateStack(server('      metadata:\n        "Build Id": "42"\n        "a.b:c-d_e": x\n')),
      [],
    );
  });

  test('invalid UTF-8 in userData is an error at its byte, not silently replaced', () => {
    const text = server('      userData: "#!/bin/sh\\necho X"\n');
    const bytes = Buffer.from(text);
    const at = bytes.indexOf('X');
    bytes[at] = 0xff;
    expectError(bytes, '17:34', undefined, /not valid UTF-8: invalid byte sequence starting with 0xff/);
  });

  test('binary user data goes in userDataBase64, which conflicts with userData', () => {
    const b64 = Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0xff]).toString('base64');
    assert.deepEqual(validateStack(server(`      userDataBase64: ${b64}\n`)), []);
    expectError(
      server('      userDataBase64: "not base64!"\n'),
      '17:7',
      'resources.web.properties.userDataBase64',
      /must be padded base64/,
    );
    expectError(
      server(`      userData: "#!/bin/sh"\n      userDataBase64: ${b64}\n`),
      '18:7',
      'resources.web.properties.userDataBase64',
      /conflicts with userData/,
    );
  });

  test('user data above 65535 bytes in UTF-8 is refused (a character count would let 4x through)', () => {
    expectError(
      server(`      userData: "${'é'.repeat(40_000)}"\n`),
      '17:7',
      'resources.web.properties.userData',
      /is 80000 bytes in UTF-8; user data is at most 65535 bytes/,
    );
  });
});

describe('YAML aliases: expanded against the document, bombs and cycles are located errors', () => {
  test('an alias in properties is its anchored value (it was the alias object itself)', () => {
    const text =
      'resources:\n  m: {type: network, properties: {name: &nm hello}}\n  o: {type: network, properties: {name: *nm, mtu: 9001}}\n';
    // mtu is the only error: the aliased name is the string "hello".
    assert.deepEqual(validateStack(text), [
      `${STACK_FILE}:3:46: error: resources.o.properties.mtu: must be <= 9000`,
    ]);
  });

  test('a billion-laughs bomb in properties is an error at the properties, in well under a second', () => {
    expectError(
      aliasBomb('resources:\n  n: {type: network, properties: {name: *i}}\n'),
      '3:34',
      'resources.n.properties',
      /Excessive alias count/,
    );
  });

  test('a recursive alias is an error, not a stack overflow', () => {
    expectError(
      'resources: &r\n  n: {type: network, properties: *r}\n',
      '2:3',
      'resources.n.properties',
      /refers to a node that contains it/,
    );
  });
});

describe('finding 16: error output for many bad references is linear and capped', () => {
  const stack = (n: number) => {
    let t = 'resources:\n';
    for (let i = 0; i < n; i++) t += `  n${i}: {type: network, properties: {name: "\${missing${i}.x}"}}\n`;
    return t;
  };
  const bytes = (lines: string[]) => lines.reduce((a, l) => a + l.length + 1, 0);

  test('5,000 bad references: each message is bounded, the total grows linearly', () => {
    const small = validateStack(stack(1000));
    const big = validateStack(stack(5000));
    assert.equal(big.length, 5000);
    // Each message named every resource of the stack: 170 MB for 5,000.
    assert.ok(
      big.every((l) => l.length < 300),
      big[0],
    );
    assert.match(big[0]!, /names no resource in this stack \(resources: n0, n1, n10, .* and 4990 more\)/);
    assert.ok(bytes(big) < 6 * bytes(small), `${bytes(big)} bytes for 5,000, ${bytes(small)} for 1,000`);
  });

  test('a report shows the first 100 diagnostics and how many more there are', () => {
    const { config, diagnostics } = loadStackText(stack(5000), STACK_FILE);
    assert.ok(config && !diagnostics.hasErrors);
    const lines = formatDiagnosticsCapped(checkStack(config, checkProviders).diagnostics.items);
    assert.equal(lines.length, 101);
    assert.equal(lines[100], '... and 4900 more errors not shown (fix the ones above first)');
  });
});

test('firstInvalidUtf8 agrees with a strict UTF-8 decoder on any bytes', () => {
  const strict = new TextDecoder('utf-8', { fatal: true });
  const valid = (b: Uint8Array) => {
    try {
      strict.decode(b);
      return true;
    } catch {
      return false;
    }
  };
  const bytes = fc.oneof(
    fc.uint8Array({ maxLength: 12 }),
    fc.string({ unit: 'binary', maxLength: 6 }).map((s) => new TextEncoder().encode(s)),
    fc
      .tuple(fc.string({ unit: 'binary', maxLength: 4 }), fc.uint8Array({ minLength: 1, maxLength: 3 }))
      .map(([s, b]) => new Uint8Array([...new TextEncoder().encode(s), ...b])),
  );
  fc.assert(
    fc.property(bytes, (b) => {
      const at = firstInvalidUtf8(b);
      assert.equal(at === -1, valid(b));
      // Everything before the reported offset is well formed.
      if (at >= 0) assert.ok(valid(b.subarray(0, at)));
    }),
    { numRuns: 5000, seed: 8 },
  );
});
