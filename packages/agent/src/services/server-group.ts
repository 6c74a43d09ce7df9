import type { AttributesOf, InputsOf, server_group } from '@stratus/model';
import { InUse } from '../errors.js';
import { ServiceBase } from './base.js';
import type { AgentContext } from './context.js';
import type { ServerRecord } from './records.js';
import type { AgentRecordFile } from './store.js';

type ServerGroupSpec = InputsOf<typeof server_group>;
/** A server group as the agent records it; its members are the servers naming it (`serverGroup`). */
export type ServerGroupRecord = AgentRecordFile<
  ServerGroupSpec,
  Partial<AttributesOf<typeof server_group>>,
  Record<string, never>
>;

/**
 * Server groups (Nova's): a record of a placement policy, nothing on the host. The server service
 * checks the policy when a member boots (server.ts, `placeInGroup`); `members` is read from the server
 * records. A group with members is not deleted (their placement would name nothing), as flavors.
 */
export class ServerGroupService extends ServiceBase<
  ServerGroupSpec,
  ServerGroupRecord['status'],
  Record<string, never>
> {
  constructor(ctx: AgentContext) {
    super(ctx, 'server_group');
  }

  protected async realize(
    id: string,
    spec: ServerGroupSpec,
    prior: ServerGroupRecord | null,
  ): Promise<ServerGroupRecord> {
    // Every attribute replaces (Nova's groups cannot change), so an existing record is already right.
    if (prior) return prior;
    const rec = this.newRecord(id, spec, {}, {});
    await this.save(rec);
    return rec;
  }

  protected override async live(rec: ServerGroupRecord): Promise<ServerGroupRecord['status']> {
    const servers = await this.ctx.store.list<ServerRecord>('servers');
    return {
      members: servers
        .filter((s) => s.spec.serverGroup === rec.id)
        .map((s) => s.id)
        .sort(),
    };
  }

  protected async remove(id: string): Promise<void> {
    const users = (await this.ctx.store.list<ServerRecord>('servers')).filter(
      (s) => s.spec.serverGroup === id,
    );
    if (users.length)
      throw new InUse(`server group ${id} has member server(s) ${users.map((s) => s.id).join(', ')}`);
  }
}
