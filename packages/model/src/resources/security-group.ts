import { Cidr4, Defaulted, Name, Ref } from '../formats.js';
import { ipToInt } from '../ipv4.js';
import type { AttrMeta } from '../meta.js';
import { type AttributeProblem, defineResource } from '../resource.js';
import { Type } from '../typebox.generated.js';
import { isUnknown } from '../unknown.js';

type RuleOpts = Pick<AttrMeta, 'requiresReplace'>;

/**
 * The attributes of one security group rule (Neutron's security_group_rule), shared by a group's inline
 * `rules` and the `security_group_rule` type. `opts` marks each attribute (a standalone rule is replaced
 * on any change, as Neutron's rules are immutable).
 */
export function ruleProperties(opts: RuleOpts = {}) {
  return {
    direction: Type.Union([Type.Literal('ingress'), Type.Literal('egress')], {
      ...opts,
      description: '`ingress` (traffic to the port) or `egress` (traffic from it).',
    }),
    // Optional rather than defaulted: a default inside a list item would make it required in the JSON
    // Schema of stack files. Absent means IPv4 and any.
    ethertype: Type.Optional(
      Type.Literal('IPv4', {
        ...opts,
        description: 'IPv4 (the default; Stratus networks are IPv4 only).',
      }),
    ),
    protocol: Type.Optional(
      Type.Union(
        [
          Type.Literal('tcp'),
          Type.Literal('udp'),
          Type.Literal('icmp'),
          Type.Literal('any'),
          Type.Integer({ minimum: 0, maximum: 255 }),
        ],
        {
          ...opts,
          description: '`tcp`, `udp`, `icmp`, `any` (default), or an IP protocol number 0..255.',
        },
      ),
    ),
    portRangeMin: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 65535,
        ...opts,
        description: 'First port (tcp, udp: 1..65535), or the ICMP type (icmp: 0..255).',
      }),
    ),
    portRangeMax: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 65535,
        ...opts,
        description:
          'Last port (tcp, udp; default portRangeMin), or the ICMP code (icmp: 0..255; needs portRangeMin).',
      }),
    ),
    remoteIpPrefix: Type.Optional(
      Cidr4({
        ...opts,
        description:
          'The peer addresses the rule admits (ingress: sources; egress: destinations), as an IPv4 CIDR; 0.0.0.0/0 is any. Excludes remoteGroup.',
      }),
    ),
    remoteGroup: Type.Optional(
      Ref('security_group', {
        ...opts,
        description:
          "The peers are the ports of this security group (their fixed IPs): membership changes follow at once. Excludes remoteIpPrefix. A group's own id is referenced by a `security_group_rule`.",
      }),
    ),
  };
}

/**
 * The rules of one security group rule beyond its schema (Neutron's): ports only for tcp, udp and icmp;
 * portRangeMin at most portRangeMax; for icmp a type and code of 0..255, a code only with a type; not
 * remoteIpPrefix and remoteGroup together; a prefix without host bits. `at` prefixes every path.
 */
export function checkRule(r: Readonly<Record<string, unknown>>, at: (string | number)[]): AttributeProblem[] {
  const out: AttributeProblem[] = [];
  const p = r.protocol ?? 'any';
  const min = r.portRangeMin;
  const max = r.portRangeMax;
  if (isUnknown(p)) return out;
  const ported = p === 'tcp' || p === 'udp';
  if (!ported && p !== 'icmp') {
    for (const k of ['portRangeMin', 'portRangeMax'] as const)
      if (r[k] !== undefined)
        out.push({
          path: [...at, k],
          message: `ports need protocol tcp, udp or icmp, not ${JSON.stringify(p)}`,
        });
  } else if (typeof min === 'number' && typeof max === 'number' && ported && min > max)
    out.push({
      path: [...at, 'portRangeMin'],
      message: `portRangeMin ${min} is greater than portRangeMax ${max}`,
    });
  if (ported && min === 0)
    out.push({ path: [...at, 'portRangeMin'], message: 'a tcp or udp port is 1..65535, not 0' });
  if (p === 'icmp')
    for (const k of ['portRangeMin', 'portRangeMax'] as const) {
      const v = r[k];
      if (typeof v === 'number' && v > 255)
        out.push({
          path: [...at, k],
          message: `an ICMP ${k === 'portRangeMin' ? 'type' : 'code'} is 0..255, not ${v}`,
        });
    }
  if (min === undefined && max !== undefined && (ported || p === 'icmp'))
    out.push({
      path: [...at, 'portRangeMax'],
      message: `needs portRangeMin (${p === 'icmp' ? 'an ICMP code needs its type' : 'the first port'})`,
    });
  if (r.remoteIpPrefix !== undefined && r.remoteGroup !== undefined)
    out.push({
      path: [...at, 'remoteIpPrefix'],
      message: 'conflicts with remoteGroup: a rule takes one peer, addresses or a group; set one of them',
    });
  if (typeof r.remoteIpPrefix === 'string') {
    const m = /^([\d.]+)\/(\d+)$/.exec(r.remoteIpPrefix);
    if (m) {
      const len = Number(m[2]);
      const addr = ipToInt(m[1]!);
      const host = len === 32 ? 0 : addr % 2 ** (32 - len);
      if (host !== 0)
        out.push({
          path: [...at, 'remoteIpPrefix'],
          message: `${r.remoteIpPrefix} has host bits set; the network is ${intToDotted(addr - host)}/${len}`,
        });
    }
  }
  return out;
}

function intToDotted(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');
}

/**
 * A security group (Neutron's): an allow-list of rules applied to the ports that name it. Traffic
 * passes only as some rule of one of a port's groups allows it (replies to allowed traffic always pass): a
 * group with no rules admits nothing and lets nothing out. Ports and servers that name no group get the agent's `default` group (ingress only from
 * its members, egress anywhere), as Neutron gives every port its project's default group.
 */
/**
 * The id of the agent's `default` security group (Neutron's per-project default: ingress from its
 * members only, egress anywhere), which ports without groups get. It is no record: its rules are fixed.
 */
export const DEFAULT_SECURITY_GROUP = '00000000-0000-4000-8000-00000000d0f1';

export const security_group = defineResource({
  type: 'security_group',
  collection: 'security_groups',
  description:
    "A security group: rules admitting traffic to and from the ports that name it (stateful: replies always pass). Ports and servers naming no group get the agent's default group (ingress from its members only, egress anywhere).",
  check(inputs) {
    const rules = Array.isArray(inputs.rules) ? inputs.rules : [];
    return rules.flatMap((r, i) =>
      r && typeof r === 'object' && !isUnknown(r)
        ? checkRule(r as Record<string, unknown>, ['rules', i])
        : [],
    );
  },
  inputs: Type.Object(
    {
      name: Type.Optional(
        Name({ description: 'Display name; defaults to the resource name.', updatableLive: true }),
      ),
      description: Type.Optional(
        Type.String({ maxLength: 255, updatableLive: true, description: 'What the group is for.' }),
      ),
      rules: Defaulted(
        Type.Array(Type.Object(ruleProperties(), { additionalProperties: false }), {
          default: [],
          maxItems: 200,
          updatableLive: true,
          description:
            "Inline rules (changed in place: the ports' firewalls are reloaded). More come from `security_group_rule` resources naming this group.",
        }),
      ),
    },
    { additionalProperties: false },
  ),
  outputs: Type.Object({
    ports: Type.Optional(
      Type.Integer({ description: 'How many ports on this host are members of the group.' }),
    ),
  }),
});
