/**
 * The port firewall's inet rules see bridged IPv4 only when br_netfilter hands it to the IP hooks
 * (`net.bridge.bridge-nf-call-iptables = 1`), as Neutron's Linux bridge agent also requires. Without it
 * security groups would silently pass everything, so the agent turns it on before it loads a firewall.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { run } from '../../host/exec.js';
import { logger } from '../../host/log.js';

const log = logger('firewall');
const SYSCTL = '/proc/sys/net/bridge/bridge-nf-call-iptables';

let done: Promise<void> | undefined;

async function read(): Promise<string | null> {
  try {
    return (await readFile(SYSCTL, 'utf8')).trim();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

/**
 * Loads br_netfilter and sets bridge-nf-call-iptables to 1 when they are not so (once per agent run;
 * a failed attempt is tried again by the next call). @throws Error when it cannot be turned on.
 */
export function ensureBridgeNetfilter(): Promise<void> {
  done ??= (async () => {
    if ((await read()) === null) {
      log.info('loading br_netfilter (security groups need bridged IPv4 in the IP hooks)');
      await run('modprobe', ['br_netfilter']);
    }
    if ((await read()) !== '1') {
      log.warn('setting net.bridge.bridge-nf-call-iptables=1: security groups need it on this host');
      await writeFile(SYSCTL, '1\n');
    }
    if ((await read()) !== '1') throw new Error(`${SYSCTL} is not 1: security groups cannot be enforced`);
  })().catch((e) => {
    done = undefined;
    throw e;
  });
  return done;
}
