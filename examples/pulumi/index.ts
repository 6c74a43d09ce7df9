// The Stratus quickstart with Pulumi: one Linux VM on its own network, as examples/quickstart/stack.yaml
// declares it. `pulumi up` runs this program; the engine drives pulumi-resource-stratus (the provider,
// installed with `pulumi plugin install resource stratus 0.1.0 --file packages/provider/dist/pulumi-plugin`),
// which talks to the agent on this machine as the stratus CLI finds it (STRATUS_AGENT_SOCKET /
// STRATUS_AGENT_STATE_DIR), or where `pulumi config set stratus:agentUrl ...` says.
//
// The image is the small test guest built by scripts/build-guest-image.sh from Debian packages. It reads
// the config drive, gets its address by DHCP, runs the user data below, serves its hostname on port 80
// and prints a STRATUS-GUEST-READY line on its serial console. Its security group admits HTTP from its
// subnet (where the network's DHCP namespace is).
import { resolve } from 'node:path';
import * as pulumi from '@pulumi/pulumi';
import * as stratus from '@stratus/provider/pulumi';

const config = new pulumi.Config();
// The provider reads image files by absolute path (Pulumi has no stack-file directory to resolve against).
const imagePath =
  config.get('imagePath') ?? resolve(import.meta.dirname, '../../build/images/stratus-guest.qcow2');

const image = new stratus.Image('guest-image', { source: imagePath });

const net = new stratus.Network('net', { mtu: 1500 });

const subnet = new stratus.Subnet('subnet', { network: net.id, cidr: '10.20.0.0/24' });

// HTTP from the subnet, anything out (without a group the server gets the default one).
const webSg = new stratus.SecurityGroup('web-sg', {
  description: 'HTTP from the subnet, anything out',
  rules: [
    {
      direction: 'ingress',
      protocol: 'tcp',
      portRangeMin: 80,
      portRangeMax: 80,
      remoteIpPrefix: '10.20.0.0/24',
    },
    { direction: 'egress' },
  ],
});

const web = new stratus.Server('web', {
  image: image.id,
  memoryMb: 256,
  networks: [{ subnet: subnet.id }],
  securityGroups: [webSg.id],
  userData: '#!/bin/sh\necho "hello from user data" > /www/hello.txt\n',
});

/** Address of the web server on the quickstart network. */
export const webIp = web.accessIpV4;
export const consoleLog = web.consoleLog;
