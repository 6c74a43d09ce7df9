/**
 * Security groups and their standalone rules: records only, whose every change reloads the firewalls of
 * the group's ports ({@link Firewalls}). A group some port still uses cannot be deleted (as in Neutron).
 */
import type { AttributesOf, InputsOf, security_group, security_group_rule } from '@stratus/model';
import { InUse, InvalidReference } from '../errors.js';
import { isResourceId } from '../host/names.js';
import { assertReference, ServiceBase } from './base.js';
import type { AgentContext } from './context.js';
import { DEFAULT_SECURITY_GROUP, type Firewalls, groupsOf } from './firewall.js';
import type { PortService } from './port.js';
import type { AgentRecordFile } from './store.js';

type Empty = Record<string, never>;
type GroupSpec = InputsOf<typeof security_group>;
type RuleSpec = InputsOf<typeof security_group_rule>;

/** A security group as the agent records it. */
export type SecurityGroupRecord = AgentRecordFile<
  GroupSpec,
  Partial<AttributesOf<typeof security_group>>,
  Empty
>;

/** A standalone security group rule as the agent records it. */
export type SecurityGroupRuleRecord = AgentRecordFile<RuleSpec, Empty, Empty>;

/**
 * Throws {@link InvalidReference} at `field` unless `id` is a security group this agent holds (or its
 * default group).
 */
export async function assertGroup(
  ctx: AgentContext,
  id: string,
  field: readonly (string | number)[],
): Promise<void> {
  if (id === DEFAULT_SECURITY_GROUP) return;
  if (!isResourceId(id) || !(await ctx.store.get('security_groups', id)))
    throw new InvalidReference(`security group ${id} does not exist`, { field });
}

/** Security groups. */
export class SecurityGroupService extends ServiceBase<GroupSpec, SecurityGroupRecord['status'], Empty> {
  constructor(
    ctx: AgentContext,
    private readonly ports: PortService,
    private readonly firewalls: Firewalls,
  ) {
    super(ctx, 'security_group');
  }

  protected override async check(id: string, spec: GroupSpec): Promise<void> {
    for (const [i, r] of spec.rules.entries())
      if (r.remoteGroup !== undefined && r.remoteGroup !== id)
        await assertGroup(this.ctx, r.remoteGroup, ['rules', i, 'remoteGroup']);
  }

  protected async realize(
    id: string,
    spec: GroupSpec,
    prior: SecurityGroupRecord | null,
  ): Promise<SecurityGroupRecord> {
    const rec = prior ?? this.newRecord(id, spec, {}, {});
    rec.spec = spec;
    await this.save(rec);
    // A new group has no ports yet; a changed one reloads its ports' firewalls (in place).
    if (prior) await this.firewalls.syncGroups([id]);
    return rec;
  }

  protected async remove(id: string): Promise<void> {
    const users = (await this.ports.list()).filter((p) => groupsOf(p).includes(id));
    if (users.length)
      throw new InUse(
        `security group ${id} is in use by port(s) ${users.map((p) => p.spec.portResource ?? p.id).join(', ')}`,
      );
  }

  protected override async live(rec: SecurityGroupRecord): Promise<SecurityGroupRecord['status']> {
    const n = (await this.ports.list()).filter((p) => groupsOf(p).includes(rec.id)).length;
    return { ports: n };
  }
}

/** Standalone security group rules: a change is a delete and a create (rules are immutable). */
export class SecurityGroupRuleService extends ServiceBase<RuleSpec, Empty, Empty> {
  constructor(
    ctx: AgentContext,
    private readonly firewalls: Firewalls,
  ) {
    super(ctx, 'security_group_rule');
  }

  protected override async check(_id: string, spec: RuleSpec): Promise<void> {
    await assertReference(this.ctx, 'security_groups', spec.securityGroup, ['securityGroup']);
    if (spec.remoteGroup !== undefined) await assertGroup(this.ctx, spec.remoteGroup, ['remoteGroup']);
  }

  protected async realize(
    id: string,
    spec: RuleSpec,
    prior: SecurityGroupRuleRecord | null,
  ): Promise<SecurityGroupRuleRecord> {
    const rec = prior ?? this.newRecord(id, spec, {}, {});
    rec.spec = spec;
    await this.save(rec);
    await this.firewalls.syncGroups([spec.securityGroup]);
    return rec;
  }

  protected async remove(id: string, rec: SecurityGroupRuleRecord | null): Promise<void> {
    if (!rec) return;
    // Gone before the reload, so the reload leaves the rule out.
    await this.ctx.store.delete(this.collection, id);
    await this.firewalls.syncGroups([rec.spec.securityGroup]);
  }
}
