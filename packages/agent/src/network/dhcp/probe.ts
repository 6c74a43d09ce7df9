/**
 * Reaching a guest from its network's DHCP namespace: the one place on the host that is on every tenant
 * network (Neutron's operators use `ip netns exec qdhcp-<id>` the same way), so no host route or address
 * is added for it.
 */
import { run } from '../../host/exec.js';
import { dhcpNamespace } from '../../host/names.js';

// Runs inside the namespace: connects to argv[1]:argv[2] every second (3 s per try) until one attempt
// is accepted, then exits 0. The agent kills it when its wait ends.
const CONNECT_LOOP = `
const net = require('node:net');
const [host, port] = process.argv.slice(1);
const attempt = () => {
  let over = false;
  const s = net.connect({ host, port: Number(port), timeout: 3000 });
  const retry = () => { if (over) return; over = true; s.destroy(); setTimeout(attempt, 1000); };
  s.on('connect', () => { over = true; s.destroy(); process.exit(0); });
  s.on('timeout', retry);
  s.on('error', retry);
};
attempt();
`;

/**
 * Resolves once a TCP connection from network `networkId`'s DHCP namespace to `ip:port` is accepted;
 * rejects with `signal`'s reason when it aborts (the probing process is killed). The probe is this Node
 * binary run in the namespace with `ip netns exec`, which execs it, so killing it ends the probe.
 */
export async function waitForTcp(
  networkId: string,
  ip: string,
  port: number,
  signal: AbortSignal,
): Promise<void> {
  await run(
    'ip',
    ['netns', 'exec', dhcpNamespace(networkId), process.execPath, '-e', CONNECT_LOOP, ip, String(port)],
    { signal, timeoutMs: 0 },
  );
}
