/**
 * Test fixtures: a good stack and bad variants of it, each with where `stratus validate` reports the
 * problem. `schema` says whether the JSON Schema of stack files (`stratus schema`) rejects it too:
 * shapes, formats and required fields are a schema's; references, cycles and a type's own rules are
 * only `validate`'s.
 */

/** A valid stack: an image, a network, a subnet and a server. */
export const GOOD = `resources:
  img:
    type: image
    properties:
      source: ./guest.qcow2
  net:
    type: network
  sub:
    type: subnet
    properties:
      network: \${net}
      cidr: 10.20.0.0/24
  web:
    type: server
    properties:
      image: \${img}
      networks:
        - subnet: \${sub}
`;

/** Each bad stack: what to change in GOOD, and the location, field and message the error must name. */
export const CASES: {
  name: string;
  yaml: string;
  where: string;
  field: string;
  message: RegExp;
  /** Whether the JSON Schema rejects it too (false: only validate's checks can). */
  schema: boolean;
}[] = [
  {
    name: 'unknown resource type',
    schema: true,
    yaml: GOOD.replace('    type: network', '    type: netwrok'),
    where: '7:5',
    field: 'resources.net.type',
    message: /unknown resource type "netwrok"/,
  },
  {
    name: 'missing required field',
    schema: true,
    yaml: GOOD.replace('      cidr: 10.20.0.0/24\n', ''),
    where: '10:5',
    field: 'resources.sub.properties.cidr',
    message: /is required/,
  },
  {
    name: 'an injected file at a relative path (the key of a map whose keys have a pattern)',
    schema: true,
    yaml: GOOD.replace(
      '      image: ${img}\n',
      '      image: ${img}\n      personality:\n        etc/motd: hi\n',
    ),
    where: '18:9',
    field: 'resources.web.properties.personality.etc/motd',
    message:
      /is not a valid key: must be an absolute guest path such as \/etc\/motd \(Nova's injected file path/,
  },
  {
    name: 'a wait for a DHCP lease on a subnet without DHCP (it would never end)',
    schema: false,
    yaml: GOOD.replace(
      '      cidr: 10.20.0.0/24\n',
      '      cidr: 10.20.0.0/24\n      enableDhcp: false\n',
    ).replace('      image: ${img}\n', '      image: ${img}\n      wait: {for: dhcp}\n'),
    where: '18:14',
    field: 'resources.web.properties.wait.for',
    message:
      /waits for the guest's DHCP lease on its first NIC, but that NIC's subnet sub has enableDhcp false/,
  },
  {
    name: 'reference to a missing resource',
    schema: false,
    yaml: GOOD.replace('image: ${img}', 'image: ${imgx}'),
    where: '16:7',
    field: 'resources.web.properties.image',
    message: /\$\{imgx\} names no resource/,
  },
  {
    name: 'dependency cycle',
    schema: false,
    yaml: `${GOOD}    dependsOn: [web2]\n  web2:\n    type: network\n    dependsOn: [web]\n`,
    where: '19:17',
    field: 'resources.web.dependsOn[0]',
    message: /dependency cycle: web -> web2 -> web/,
  },
  {
    name: 'firmware uefi on machine pc (cannot be honoured: UEFI needs q35)',
    schema: false,
    yaml: GOOD.replace(
      '      image: ${img}\n',
      '      image: ${img}\n      firmware: uefi\n      machine: pc\n',
    ),
    where: '18:7',
    field: 'resources.web.properties.machine',
    message: /firmware uefi cannot run on machine pc/,
  },
  {
    name: 'Secure Boot on a server with firmware bios',
    schema: false,
    yaml: GOOD.replace(
      '      image: ${img}\n',
      '      image: ${img}\n      firmware: bios\n      secureBoot: true\n',
    ),
    where: '18:7',
    field: 'resources.web.properties.secureBoot',
    message: /Secure Boot needs firmware uefi: set firmware: uefi, or leave secureBoot out/,
  },
  {
    name: "an image that requires Secure Boot on a server that sets firmware bios (the server's firmware wins)",
    schema: false,
    yaml: GOOD.replace(
      '      source: ./guest.qcow2\n',
      '      source: ./guest.qcow2\n      properties: { os_secure_boot: required }\n',
    ).replace('      image: ${img}\n', '      image: ${img}\n      firmware: bios\n'),
    where: '18:7',
    field: 'resources.web.properties.firmware',
    message:
      /image img requires Secure Boot \(os_secure_boot required\), which needs UEFI, but the server sets firmware bios: set firmware: uefi, or secureBoot: false/,
  },
  {
    name: 'a Windows 11 image on a server with 1 vCPU',
    schema: false,
    yaml: GOOD.replace(
      '      source: ./guest.qcow2\n',
      '      source: ./guest.qcow2\n      properties: { os_type: windows, os_distro: win11 }\n',
    ).replace('      image: ${img}\n', '      image: ${img}\n      vcpus: 1\n      memoryMb: 4096\n'),
    where: '18:7',
    field: 'resources.web.properties.vcpus',
    message:
      /Windows 11 \(image img has os_distro win11\) needs at least 2 vCPUs, the server has 1: set vcpus: 2 or more/,
  },
  {
    name: 'a Windows 11 image on a server with tpm off',
    schema: false,
    yaml: GOOD.replace(
      '      source: ./guest.qcow2\n',
      '      source: ./guest.qcow2\n      properties: { os_type: windows, os_distro: win11 }\n',
    ).replace(
      '      image: ${img}\n',
      '      image: ${img}\n      vcpus: 2\n      memoryMb: 4096\n      tpm: false\n',
    ),
    where: '20:7',
    field: 'resources.web.properties.tpm',
    message:
      /Windows 11 \(image img has os_distro win11\) needs a TPM 2.0, but the server has none: set tpm: true/,
  },
  {
    name: 'a Windows 11 image on a flavor with a 32 GiB disk',
    schema: false,
    yaml: `${GOOD.replace(
      '      source: ./guest.qcow2\n',
      '      source: ./guest.qcow2\n      properties: { os_distro: win11, os_type: windows }\n',
    ).replace(
      '      image: ${img}\n',
      '      image: ${img}\n      flavor: ${small}\n',
    )}  small:\n    type: flavor\n    properties: { vcpus: 2, ramMb: 4096, diskGb: 32 }\n`,
    where: '18:7',
    field: 'resources.web.properties.flavor',
    message:
      /Windows 11 \(image img has os_distro win11\) needs a root disk of at least 64 GiB, flavor small has 32 GiB: use a flavor with diskGb 64 or more/,
  },
  // Injected files: a Windows drive path is for a Windows guest (cloudbase-init writes it).
  {
    name: 'a Windows path among the injected files of a server that sets osType linux',
    schema: false,
    yaml: GOOD.replace(
      '      image: ${img}\n',
      '      image: ${img}\n      osType: linux\n      personality:\n        "C:\\\\stratus\\\\hello.txt": hi\n',
    ),
    where: '19:9',
    field: 'resources.web.properties.personality.C:\\stratus\\hello.txt',
    message: /is a Windows path, but the guest is linux \(the server sets osType linux;/,
  },
  {
    name: 'a Windows path among the injected files of a server whose image has no os_type windows',
    schema: false,
    yaml: GOOD.replace(
      '      image: ${img}\n',
      '      image: ${img}\n      personality:\n        "D:/x.txt": hi\n',
    ),
    where: '18:9',
    field: 'resources.web.properties.personality.D:/x.txt',
    message:
      /is a Windows path, but the guest is linux \(image img has no os_type windows;.*set osType: windows/,
  },
  {
    name: 'an injected file path that is neither absolute nor a drive path',
    schema: true,
    yaml: GOOD.replace(
      '      image: ${img}\n',
      '      image: ${img}\n      osType: windows\n      personality:\n        "Program Files\\\\x.txt": hi\n',
    ),
    where: '19:9',
    field: 'resources.web.properties.personality.Program Files\\x.txt',
    message: /./,
  },
  {
    name: 'invalid CIDR',
    schema: true,
    yaml: GOOD.replace('cidr: 10.20.0.0/24', 'cidr: 10.20.0.0/33'),
    where: '12:7',
    field: 'resources.sub.properties.cidr',
    message: /must be an IPv4 CIDR/,
  },
  {
    name: 'CIDR with host bits',
    schema: false,
    yaml: GOOD.replace('cidr: 10.20.0.0/24', 'cidr: 10.20.0.7/24'),
    where: '12:7',
    field: 'resources.sub.properties.cidr',
    message: /host bits set/,
  },
  {
    name: 'IP range outside its subnet',
    schema: false,
    yaml: GOOD.replace(
      'cidr: 10.20.0.0/24\n',
      'cidr: 10.20.0.0/24\n      allocationPools:\n        - start: 10.20.0.10\n          end: 10.21.0.20\n',
    ),
    where: '15:11',
    field: 'resources.sub.properties.allocationPools[0].end',
    message: /10\.21\.0\.20 is outside the subnet 10\.20\.0\.0\/24/,
  },
  {
    name: 'a flavor and an inline size together',
    schema: false,
    yaml: `${GOOD.replace('      image: ${img}\n', '      image: ${img}\n      flavor: ${small}\n      vcpus: 2\n')}  small:\n    type: flavor\n    properties: { vcpus: 2, ramMb: 512 }\n`,
    where: '18:7',
    field: 'resources.web.properties.vcpus',
    message: /conflicts with flavor/,
  },
  // Issue 7, finding 1: dnsmasq reads `12h` as a lease time; the host name derives from the name.
  {
    name: 'server name whose host name dnsmasq refuses',
    schema: false,
    yaml: GOOD.replace('      image: ${img}\n', '      name: "12h"\n      image: ${img}\n'),
    where: '16:7',
    field: 'resources.web.properties.name',
    message: /guest host name "12h".*dnsmasq reads it as a lease time/,
  },
  // Issue 7, finding 2.
  {
    name: 'subnet with no room for a server',
    schema: false,
    yaml: GOOD.replace('cidr: 10.20.0.0/24', 'cidr: 10.62.1.0/30'),
    where: '12:7',
    field: 'resources.sub.properties.cidr',
    message: /the gateway takes 10\.62\.1\.1 and the DHCP port 10\.62\.1\.2, leaving none for a server/,
  },
  // Issue 7, finding 6.
  {
    name: 'timeout beyond 24h',
    schema: false,
    yaml: GOOD.replace('    type: network\n', '    type: network\n    timeouts: {create: 600h}\n'),
    where: '8:16',
    field: 'resources.net.timeouts.create',
    message: /600h is longer than the limit of 24h/,
  },
  // Issue 7, finding 1's kind: what a server's NICs need from the stack's networks and subnets.
  {
    name: 'server on a network that has no subnet',
    schema: false,
    yaml: `${GOOD.replace('        - subnet: ${sub}', '        - network: ${bare}')}  bare:\n    type: network\n`,
    where: '18:11',
    field: 'resources.web.properties.networks[0].network',
    message: /network bare has no subnet in this stack, so the server cannot take an address on it/,
  },
  {
    name: 'server NIC naming a subnet of another network',
    schema: false,
    yaml: `${GOOD.replace('        - subnet: ${sub}', '        - subnet: ${sub}\n          network: ${other}')}  other:\n    type: network\n`,
    where: '18:11',
    field: 'resources.web.properties.networks[0].subnet',
    message: /subnet sub is on network net, not on other/,
  },
  {
    name: 'server fixed address outside its subnet',
    schema: false,
    yaml: GOOD.replace('        - subnet: ${sub}', '        - subnet: ${sub}\n          fixedIp: 10.99.0.5'),
    where: '19:11',
    field: 'resources.web.properties.networks[0].fixedIp',
    message: /10\.99\.0\.5 is not in subnet sub \(10\.20\.0\.0\/24\)/,
  },
  {
    name: "server fixed address in none of its network's subnets",
    schema: false,
    yaml: GOOD.replace('        - subnet: ${sub}', '        - network: ${net}\n          fixedIp: 10.99.0.5'),
    where: '19:11',
    field: 'resources.web.properties.networks[0].fixedIp',
    message: /10\.99\.0\.5 is in none of the subnets of network net \(sub 10\.20\.0\.0\/24\)/,
  },
  {
    name: 'more NICs on a subnet than it has addresses',
    schema: false,
    // A /29: 6 host addresses, the gateway and the DHCP port take 2, 4 are left; the fifth NIC fails.
    yaml: GOOD.replace('cidr: 10.20.0.0/24', 'cidr: 10.20.0.0/29').replace(
      '        - subnet: ${sub}',
      Array.from({ length: 5 }, () => '        - subnet: ${sub}').join('\n'),
    ),
    where: '22:11',
    field: 'resources.web.properties.networks[4]',
    message:
      /subnet sub \(10\.20\.0\.0\/29\) has room for 4 server addresses beyond its gateway and DHCP port, and 5 NICs of this stack take one from it \(web\)/,
  },
  {
    name: 'server fixed address the DHCP port takes',
    schema: false,
    yaml: GOOD.replace('        - subnet: ${sub}', '        - subnet: ${sub}\n          fixedIp: 10.20.0.2'),
    where: '19:11',
    field: 'resources.web.properties.networks[0].fixedIp',
    message: /10\.20\.0\.2 is the address the DHCP port of subnet sub takes/,
  },
  {
    name: 'server fixed address outside the subnet pools',
    schema: false,
    yaml: GOOD.replace(
      'cidr: 10.20.0.0/24\n',
      'cidr: 10.20.0.0/24\n      allocationPools: [{start: 10.20.0.10, end: 10.20.0.20}]\n',
    ).replace('        - subnet: ${sub}', '        - subnet: ${sub}\n          fixedIp: 10.20.0.50'),
    where: '20:11',
    field: 'resources.web.properties.networks[0].fixedIp',
    message: /10\.20\.0\.50 is outside the allocation pools of subnet sub \(10\.20\.0\.10-10\.20\.0\.20\)/,
  },
  {
    name: 'two NICs with the same fixed address',
    schema: false,
    yaml: GOOD.replace(
      '        - subnet: ${sub}',
      '        - subnet: ${sub}\n          fixedIp: 10.20.0.9\n        - subnet: ${sub}\n          fixedIp: 10.20.0.9',
    ),
    where: '21:11',
    field: 'resources.web.properties.networks[1].fixedIp',
    message: /10\.20\.0\.9 is already the fixedIp of web networks\[0\] on subnet sub/,
  },
  {
    name: 'overlapping subnets on one network',
    schema: false,
    yaml: `${GOOD}  sub2:\n    type: subnet\n    properties:\n      network: \${net}\n      cidr: 10.20.0.128/25\n`,
    where: '23:7',
    field: 'resources.sub2.properties.cidr',
    message: /10\.20\.0\.128\/25 overlaps subnet sub \(10\.20\.0\.0\/24\) on the same network net/,
  },
  {
    name: 'key pair reference naming a network',
    schema: false,
    yaml: GOOD.replace('      image: ${img}\n', '      image: ${img}\n      keyPair: ${net}\n'),
    where: '17:7',
    field: 'resources.web.properties.keyPair',
    message: /expects a reference to a keypair, but \$\{net\} is a network/,
  },
  {
    name: 'flavor reference naming an image',
    schema: false,
    yaml: GOOD.replace('      image: ${img}\n', '      image: ${img}\n      flavor: ${img}\n'),
    where: '17:7',
    field: 'resources.web.properties.flavor',
    message: /expects a reference to a flavor, but \$\{img\} is a image/,
  },
  // Issue 7, finding 9: what apply waits for, and for how long, are checked at validate.
  {
    name: 'server wait for a port out of range',
    schema: false,
    yaml: `${GOOD}      wait:\n        for: tcp:99999\n`,
    where: '20:9',
    field: 'resources.web.properties.wait.for',
    message: /must be none, dhcp or tcp:PORT with PORT from 1 to 65535 \(such as tcp:22\), not "tcp:99999"/,
  },
  {
    name: 'server wait timeout beyond 24h',
    schema: false,
    yaml: `${GOOD}      wait:\n        for: dhcp\n        timeout: 48h\n`,
    where: '21:9',
    field: 'resources.web.properties.wait.timeout',
    message: /48h is longer than the limit of 24h/,
  },
  {
    name: 'server wait with an unknown option',
    schema: true,
    yaml: `${GOOD}      wait:\n        until: dhcp\n`,
    where: '20:9',
    field: 'resources.web.properties.wait.until',
    message: /is not a known attribute/,
  },
  // Issue 11: security group rules.
  {
    name: 'security group rule with portRangeMin above portRangeMax',
    schema: false,
    yaml: `${GOOD}  sg:\n    type: security_group\n    properties:\n      rules:\n        - { direction: ingress, protocol: tcp, portRangeMin: 90, portRangeMax: 80 }\n`,
    where: '23:48',
    field: 'resources.sg.properties.rules[0].portRangeMin',
    message: /portRangeMin 90 is greater than portRangeMax 80/,
  },
  {
    name: 'security group rule with remoteGroup and remoteIpPrefix',
    schema: false,
    yaml: `${GOOD}  sg:\n    type: security_group\n  r:\n    type: security_group_rule\n    properties:\n      securityGroup: \${sg}\n      direction: ingress\n      remoteIpPrefix: 10.0.0.0/8\n      remoteGroup: \${sg}\n`,
    where: '26:7',
    field: 'resources.r.properties.remoteIpPrefix',
    message: /conflicts with remoteGroup/,
  },
  // Issue 11: routers and floating IPs need what Neutron needs, checked at validate.
  {
    name: 'floating IP on a network that is not external',
    schema: false,
    yaml: `${GOOD}  fip:\n    type: floating_ip\n    properties:\n      network: \${net}\n`,
    where: '22:7',
    field: 'resources.fip.properties.network',
    message:
      /network net is not external: floating IPs come from the subnets of a network with external: true/,
  },
  {
    name: 'router interface on a subnet already on another router',
    schema: false,
    yaml: `${GOOD}  r1:\n    type: router\n  r2:\n    type: router\n  i1:\n    type: router_interface\n    properties:\n      router: \${r1}\n      subnet: \${sub}\n  i2:\n    type: router_interface\n    properties:\n      router: \${r2}\n      subnet: \${sub}\n`,
    where: '32:7',
    field: 'resources.i2.properties.subnet',
    message: /subnet sub is already on router r1 \(i1\); a subnet is on one router at most/,
  },
  {
    name: 'overlapping subnets on one router',
    schema: false,
    yaml: `${GOOD}  net2:\n    type: network\n  sub2:\n    type: subnet\n    properties:\n      network: \${net2}\n      cidr: 10.20.0.128/25\n  r1:\n    type: router\n  i1:\n    type: router_interface\n    properties:\n      router: \${r1}\n      subnet: \${sub}\n  i2:\n    type: router_interface\n    properties:\n      router: \${r1}\n      subnet: \${sub2}\n`,
    where: '37:7',
    field: 'resources.i2.properties.subnet',
    message:
      /subnet sub2 \(10\.20\.0\.128\/25\) overlaps subnet sub \(10\.20\.0\.0\/24\), already on router r1/,
  },
  // Issue 11, Deliver 6: subnet options.
  {
    name: 'subnet with noGateway and a gatewayIp',
    schema: false,
    yaml: GOOD.replace(
      '      cidr: 10.20.0.0/24\n',
      '      cidr: 10.20.0.0/24\n      gatewayIp: 10.20.0.1\n      noGateway: true\n',
    ),
    where: '14:7',
    field: 'resources.sub.properties.noGateway',
    message: /conflicts with gatewayIp: a subnet has a gateway address or none/,
  },
  {
    name: 'subnet host route via an address outside the subnet',
    schema: false,
    yaml: GOOD.replace(
      '      cidr: 10.20.0.0/24\n',
      '      cidr: 10.20.0.0/24\n      hostRoutes:\n        - { destination: 10.50.0.0/16, nexthop: 10.30.0.1 }\n',
    ),
    where: '14:40',
    field: 'resources.sub.properties.hostRoutes[0].nexthop',
    message: /10\.30\.0\.1 is not a host address of 10\.20\.0\.0\/24/,
  },
  {
    name: 'router interface on a subnet without a gateway',
    schema: false,
    yaml: `${GOOD.replace('      cidr: 10.20.0.0/24\n', '      cidr: 10.20.0.0/24\n      noGateway: true\n')}  r1:\n    type: router\n  i1:\n    type: router_interface\n    properties:\n      router: \${r1}\n      subnet: \${sub}\n`,
    where: '26:7',
    field: 'resources.i1.properties.subnet',
    message: /subnet sub has noGateway: true: a router interface takes the subnet's gateway address/,
  },
];
