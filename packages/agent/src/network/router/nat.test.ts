import assert from 'node:assert/strict';
import { test } from 'node:test';
import { natRuleCount, natTableName, renderNat } from './nat.js';

const ID = '5c6ddf68-94f4-47d9-9e47-1b9340253df9';
const base = {
  routerId: ID,
  gatewayDevice: 'qg-5c6ddf6894f',
  gatewayIp: '203.0.113.11',
  enableSnat: true,
  subnets: ['10.91.0.0/24', '10.95.0.0/24'],
  floating: [{ address: '203.0.113.60', fixedIp: '10.91.0.5' }],
};

test('a router table: DNAT in and SNAT out per floating IP before the subnets’ SNAT, replaced atomically', () => {
  const text = renderNat(base);
  const t = natTableName(ID);
  assert.ok(text.startsWith(`table ip ${t}\ndelete table ip ${t}\ntable ip ${t} {`));
  assert.match(text, /prerouting priority dstnat;[^}]*ip daddr 203\.0\.113\.60 dnat to 10\.91\.0\.5/s);
  const post = text.slice(text.indexOf('chain postrouting'));
  const fip = post.indexOf('ip saddr 10.91.0.5 snat to 203.0.113.60');
  const snat = post.indexOf('ip saddr { 10.91.0.0/24, 10.95.0.0/24 } snat to 203.0.113.11');
  assert.ok(fip > 0 && snat > fip, post);
  assert.equal(natRuleCount(base), 4);
});

test('no SNAT of the subnets with enableSnat false; no NAT at all without a gateway', () => {
  assert.doesNotMatch(renderNat({ ...base, enableSnat: false }), /comment "snat"/);
  assert.equal(natRuleCount({ ...base, enableSnat: false }), 3);
  const { gatewayDevice: _d, gatewayIp: _i, ...noGateway } = base;
  assert.equal(natRuleCount(noGateway), 0);
  assert.match(
    renderNat(noGateway),
    /chain postrouting \{\n {4}type nat hook postrouting priority srcnat; policy accept;\n {2}\}/,
  );
});

test('values that would change the script’s meaning are refused', () => {
  assert.throws(() =>
    renderNat({ ...base, floating: [{ address: '1.2.3.4; flush ruleset', fixedIp: '10.0.0.1' }] }),
  );
  assert.throws(() => renderNat({ ...base, gatewayDevice: 'qg-x" accept' }));
  assert.throws(() => natTableName('../x'));
});
