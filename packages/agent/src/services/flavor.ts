import type { AttributesOf, flavor, InputsOf } from '@stratus/model';
import { InUse } from '../errors.js';
import { ServiceBase } from './base.js';
import type { AgentContext } from './context.js';
import type { ServerRecord } from './records.js';
import type { AgentRecordFile } from './store.js';

type FlavorSpec = InputsOf<typeof flavor>;
/** A flavor as the agent records it. */
export type FlavorRecord = AgentRecordFile<
  FlavorSpec,
  Partial<AttributesOf<typeof flavor>>,
  Record<string, never>
>;

/**
 * Flavors (Nova flavors): a record of a server size. Nothing on the host: servers read their size from
 * it when their domain is defined and their disk made. A flavor in use by a server is not deleted, so a
 * server can always be repaired to its size.
 */
export class FlavorService extends ServiceBase<FlavorSpec, FlavorRecord['status'], Record<string, never>> {
  constructor(ctx: AgentContext) {
    super(ctx, 'flavor');
  }

  protected async realize(id: string, spec: FlavorSpec, prior: FlavorRecord | null): Promise<FlavorRecord> {
    // Every attribute replaces (flavors are immutable in Nova), so an existing record is already right.
    if (prior) return prior;
    const rec = this.newRecord(id, spec, {}, {});
    await this.save(rec);
    return rec;
  }

  protected async remove(id: string): Promise<void> {
    const users = (await this.ctx.store.list<ServerRecord>('servers')).filter((s) => s.spec.flavor === id);
    if (users.length)
      throw new InUse(`flavor ${id} is in use by server(s) ${users.map((s) => s.id).join(', ')}`);
  }
}
