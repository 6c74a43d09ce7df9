/**
 * Issue 7: whatever `stratus validate` accepts, the agent's own validators accept. Names, host names and
 * CIDRs are generated from the whole string and prefix space (any Unicode, control characters, digits
 * and duration-like words, every prefix length) and run through the model's validation, then, when
 * accepted, through what the agent builds for its host tools: the DHCP spec dnsmasq gets (validateDhcpSpec),
 * the derived guest host name (hostnameFor) and the libvirt domain XML (buildDomainXml). No VM needed.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  checkSubnetRanges,
  defaultPools,
  firstHost,
  hostnameProblem,
  intToIp,
  ipToInt,
  parseCidr,
  validateResource,
} from '@stratus/model';
import fc from 'fast-check';
import { buildDomainXml } from '../compute/domain-xml.js';
import { metaDataJson } from '../configdrive/metadata.js';
import { serverTap } from '../host/names.js';
import { hostnameFor } from '../services/server.js';
import { validateDhcpSpec } from './dhcp/dnsmasq-config.js';
import type { DhcpSpec } from './dhcp/types.js';

const NET = '0b5e2f4c-1d2a-4c3b-9e8f-0123456789ab';
const SUB = '1c6f3a5d-2e3b-4d4c-8f9a-123456789abc';
const SRV = '2d7a4b6e-3f4c-4e5d-9a0b-23456789abcd';

/** Strings from the whole space, weighted towards what host tools are picky about. */
const anyText = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 70 }),
  fc.string({ unit: 'grapheme', maxLength: 70 }),
  fc.stringMatching(/^[0-9]{1,5}[smhdwSMHDW]?$/),
  fc.constantFrom(
    'infinite',
    'IGNORE',
    'Infinite',
    '-a',
    'a-',
    'a.b',
    'a_b',
    'x'.repeat(63),
    'x'.repeat(64),
    '',
  ),
  fc.string({
    unit: fc.constantFrom('a', '1', '-', '.', '_', ' ', '\n', '\t', '\u0000', 'é', '\ud800'),
    maxLength: 70,
  }),
);

/** A server's inputs around `over`, everything else valid. */
const serverInputs = (over: Record<string, unknown>) => ({
  image: 'img-id',
  networks: [{ subnet: SUB }],
  ...over,
});

/** The DHCP spec the agent builds for one server on a /24, with `hostname`. */
function dhcpSpecFor(hostname: string): DhcpSpec {
  return {
    // Validation never touches the segment.
    uplink: {
      description: 'test segment',
      ready: async () => true,
      isPlugged: async () => true,
      plug: async () => {},
    },
    networkId: NET,
    mtu: 1500,
    subnets: [
      {
        subnetId: SUB,
        cidr: '10.9.0.0/24',
        gatewayIp: '10.9.0.1',
        dhcpServerIp: '10.9.0.2',
        dnsNameservers: [],
      },
    ],
    hosts: [{ mac: 'fa:16:3e:00:00:01', ip: '10.9.0.3', hostname }],
  };
}

const RUNS = { numRuns: 3000, seed: 4_242_007 };

describe('validate accepts => the agent accepts', () => {
  test('hostnames', () => {
    fc.assert(
      fc.property(anyText, (hostname) => {
        if (validateResource('server', serverInputs({ name: 'web', hostname })).length > 0) return;
        const h = hostnameFor({ name: 'web', hostname } as never, SRV);
        assert.equal(h, hostname);
        validateDhcpSpec(dhcpSpecFor(h));
      }),
      RUNS,
    );
  });

  test('server names: the derived host name (dnsmasq), the domain title (libvirt), the metadata', () => {
    fc.assert(
      fc.property(anyText, (name) => {
        if (validateResource('server', serverInputs({ name })).length > 0) return;
        validateDhcpSpec(dhcpSpecFor(hostnameFor({ name } as never, SRV)));
        const xml = buildDomainXml({
          serverId: SRV,
          name,
          vcpus: 1,
          memoryMiB: 256,
          virtType: 'qemu',
          machine: 'pc',
          firmware: 'bios',
          rootDisk: `/var/lib/stratus/instances/${SRV}/disk.qcow2`,
          configDrive: null,
          nics: [
            { mac: 'fa:16:3e:00:00:01', bridge: 'brq0b5e2f4c1d2', tap: serverTap(SRV, 0), model: 'virtio' },
          ],
          consoleLog: `/var/lib/stratus/instances/${SRV}/console.log`,
        });
        // libvirt refuses a <title> with a line break, and XML 1.0 any other control character.
        const title = /<title>([^<]*)<\/title>/.exec(xml)?.[1] ?? '';
        assert.doesNotMatch(title, /[\u0000-\u001f\ud800-\udfff]/u);
        metaDataJson({ uuid: SRV, name, hostname: hostnameFor({ name } as never, SRV), publicKeys: {} });
      }),
      RUNS,
    );
  });

  test('Windows guests: host names and names give a NetBIOS-safe name (15 at most) dnsmasq takes, distinct per server when cut', () => {
    const OTHER = '9f0e1d2c-3b4a-4596-8877-665544332211';
    fc.assert(
      fc.property(anyText, anyText, (hostname, name) => {
        for (const inputs of [{ name: 'web', hostname }, { name }]) {
          if (validateResource('server', serverInputs(inputs)).length > 0) continue;
          const h = hostnameFor(inputs as never, SRV, 'windows');
          assert.ok(h.length <= 15, `${JSON.stringify(h)} is longer than 15`);
          assert.equal(hostnameProblem(h), undefined, h);
          // cloudbase-init would change a name ending in '-' (it turns it into '0').
          assert.doesNotMatch(h, /-$/);
          validateDhcpSpec(dhcpSpecFor(h));
          const linux = hostnameFor(inputs as never, SRV);
          if (linux.length <= 15) assert.equal(h, linux, 'a short name is kept as it is');
          else
            assert.notEqual(h, hostnameFor(inputs as never, OTHER, 'windows'), 'cut names differ per server');
        }
      }),
      RUNS,
    );
    assert.equal(hostnameFor({ name: 'web-frontend-prod-01' } as never, SRV, 'windows'), 'web-fronte-2d7a');
    assert.equal(hostnameFor({ hostname: 'dc01' } as never, SRV, 'windows'), 'dc01');
    assert.equal(hostnameFor({ hostname: 'sql-server-----x' } as never, SRV, 'windows'), 'sql-server-2d7a');
  });

  test('CIDRs of every prefix: the agent parses them and its DHCP spec holds the DHCP port and a server', () => {
    const cidr = fc.oneof(
      fc.tuple(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 32 })).map(([a, p]) => {
        const mask = p === 0 ? 0 : (0xffffffff << (32 - p)) >>> 0;
        return `${intToIp((a & mask) >>> 0)}/${p}`;
      }),
      fc.tuple(fc.ipV4(), fc.integer({ min: -1, max: 40 })).map(([ip, p]) => `${ip}/${p}`),
      anyText,
    );
    fc.assert(
      fc.property(cidr, (c) => {
        if (validateResource('subnet', { network: NET, cidr: c }).length > 0) return;
        if (checkSubnetRanges(c, undefined, undefined).length > 0) return;
        // As the agent's subnet service does: gateway = first host, pools = the rest, the DHCP port takes
        // the first pool address, a server the next.
        const net = parseCidr(c);
        const gateway = firstHost(net);
        const pools = defaultPools(net, gateway);
        const free: string[] = [];
        for (const p of pools)
          for (let n = ipToInt(p.start); n <= ipToInt(p.end) && free.length < 2; n++) free.push(intToIp(n));
        assert.equal(free.length, 2, `${c}: no room for the DHCP port and a server`);
        validateDhcpSpec({
          ...dhcpSpecFor('web'),
          networkId: NET,
          mtu: 1500,
          subnets: [
            { subnetId: SUB, cidr: c, gatewayIp: gateway, dhcpServerIp: free[0]!, dnsNameservers: [] },
          ],
          hosts: [{ mac: 'fa:16:3e:00:00:01', ip: free[1]!, hostname: 'web' }],
        });
      }),
      RUNS,
    );
  });

  test('MTUs and DNS server addresses', () => {
    const ipText = fc.oneof(fc.ipV4(), fc.ipV4Extended(), fc.stringMatching(/^[0-9.]{1,16}$/), anyText);
    fc.assert(
      fc.property(fc.oneof(fc.integer(), fc.double()), fc.array(ipText, { maxLength: 3 }), (mtu, dns) => {
        const netOk = validateResource('network', { mtu }).length === 0;
        const subOk =
          validateResource('subnet', { network: NET, cidr: '10.9.0.0/24', dnsNameservers: dns }).length === 0;
        if (!netOk && !subOk) return;
        const spec = dhcpSpecFor('web');
        validateDhcpSpec({
          ...spec,
          mtu: netOk ? mtu : 1500,
          subnets: spec.subnets.map((s) => ({ ...s, dnsNameservers: subOk ? dns : [] })),
        });
      }),
      RUNS,
    );
  });
});
