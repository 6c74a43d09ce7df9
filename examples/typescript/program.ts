// The Stratus quickstart as a TypeScript program: the same VM and network as
// examples/quickstart/stack.yaml, declared with typed constructs.
//
//   stratus plan examples/typescript/program.ts
//   stratus apply --auto-approve examples/typescript/program.ts
import { Image, Network, SecurityGroup, Server, Stack, Subnet } from '@stratus/sdk';

const stack = new Stack('quickstart');

// Relative paths resolve against this file's directory, as a stack file's do against the stack file's.
const image = new Image(stack, 'guest-image', { source: '../../build/images/stratus-guest.qcow2' });

const net = new Network(stack, 'net', { mtu: 1500 });

const subnet = new Subnet(stack, 'subnet', { network: net, cidr: '10.20.0.0/24' });

// HTTP from the subnet, anything out (without a group the server gets the default one).
const webSg = new SecurityGroup(stack, 'web-sg', {
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

const web = new Server(stack, 'web', {
  image,
  memoryMb: 256,
  networks: [{ subnet }],
  securityGroups: [webSg],
  userData: '#!/bin/sh\necho "hello from user data" > /www/hello.txt\n',
});

stack.output('web_ip', web.attrs.accessIpV4, {
  description: 'Address of the web server on the quickstart network.',
});
stack.output('console_log', web.attrs.consoleLog);

export default stack;
