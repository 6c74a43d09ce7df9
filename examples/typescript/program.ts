// The Stratus quickstart as a TypeScript program: the same VM and network as
// examples/quickstart/stack.yaml, declared with typed constructs.
//
//   stratus plan examples/typescript/program.ts
//   stratus apply --auto-approve examples/typescript/program.ts
import { Image, Network, Server, Stack, Subnet } from '@stratus/sdk';

const stack = new Stack('quickstart');

// Relative paths resolve against this file's directory, as a stack file's do against the stack file's.
const image = new Image(stack, 'guest-image', { source: '../../build/images/stratus-guest.qcow2' });

const net = new Network(stack, 'net', { mtu: 1500 });

const subnet = new Subnet(stack, 'subnet', { network: net, cidr: '10.20.0.0/24' });

const web = new Server(stack, 'web', {
  image,
  memoryMb: 256,
  networks: [{ subnet }],
  userData: '#!/bin/sh\necho "hello from user data" > /www/hello.txt\n',
});

stack.output('web_ip', web.attrs.accessIpV4, {
  description: 'Address of the web server on the quickstart network.',
});
stack.output('console_log', web.attrs.consoleLog);

export default stack;
