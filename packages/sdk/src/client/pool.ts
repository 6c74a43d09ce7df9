import type { ApiOwner } from '@stratus/model';
import { localAgentPaths } from '@stratus/util';
import { AgentClient } from './agent-client.js';
import { AgentApiError } from './errors.js';

/** The host every resource lives on until there are several: the agent on this machine. */
export const LOCAL_HOST = 'local';

/** Makes the client of one host's agent (starting the agent first, when the pool may). */
export type AgentConnector = (host: string) => Promise<AgentClient>;

/**
 * The agents Stratus talks to, one client per host, made on first use: the engine and providers ask
 * the pool for the host a resource lives on, so several hosts need no change to them.
 */
export class AgentPool {
  private readonly clients = new Map<string, Promise<AgentClient>>();

  private ownerOf?: ApiOwner;

  constructor(private readonly connect: AgentConnector) {}

  /**
   * The state the pool's calls work for: every agent records it on what it creates or imports, so that
   * `stratus list` can tell what a state holds from orphans. Set it once the state is known, before
   * the calls that create; it applies to clients made before too.
   */
  set owner(owner: ApiOwner | undefined) {
    this.ownerOf = owner;
    for (const c of this.clients.values()) void c.then((x) => (x.owner = owner)).catch(() => undefined);
  }

  get owner(): ApiOwner | undefined {
    return this.ownerOf;
  }

  /** The client of `host`'s agent. Throws AgentApiError `unknown_host` when the pool cannot reach that host. */
  client(host: string): Promise<AgentClient> {
    let c = this.clients.get(host);
    if (!c) {
      c = this.connect(host).then((x) => {
        if (this.ownerOf && !x.owner) x.owner = this.ownerOf;
        return x;
      });
      // A failed connection is not remembered: the next call tries again.
      c.catch(() => this.clients.delete(host));
      this.clients.set(host, c);
    }
    return c;
  }

  /** Closes every client made so far. */
  async close(): Promise<void> {
    const all = [...this.clients.values()];
    this.clients.clear();
    await Promise.all(all.map((c) => c.then((x) => x.close()).catch(() => undefined)));
  }
}

/**
 * A pool that knows one host, `local`: the agent on this machine's socket (see {@link localAgentPaths}).
 * `prepare` runs before the first connection (the CLI starts the agent there when none runs).
 */
export function localPool(prepare?: () => Promise<void>, env: NodeJS.ProcessEnv = process.env): AgentPool {
  return new AgentPool(async (host) => {
    if (host !== LOCAL_HOST)
      throw new AgentApiError(0, 'unknown_host', `no agent is configured for host ${JSON.stringify(host)}`);
    await prepare?.();
    const paths = localAgentPaths(env);
    return new AgentClient({ socket: paths.socket, tokenFile: paths.tokenFile });
  });
}
