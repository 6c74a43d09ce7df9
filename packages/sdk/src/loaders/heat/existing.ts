/**
 * Objects outside the template that a Heat name may resolve to. OpenStack resolves `image: debian-12`,
 * `flavor: m1.small`, `network: public`, `key_name: deploy`, `security_groups: [default]` against the
 * cloud (Heat's client plugins, `find_resource_by_name_or_id`): a name or an id of an object that
 * exists, whoever made it. Stratus does the same against the objects the agents hold, as a Terraform
 * data source is read at plan: a name no resource of the template has is looked up there, once, before
 * the plan is made, and resolves to the object's id (a reference field takes an id as it is). One
 * mechanism for every type a property or custom constraint names; the loader stays pure (the caller
 * lists the objects: see cli/existing.ts).
 */
import type { ResourceType } from '@stratus/model';

/** An object an agent holds, as a lookup sees it. */
export interface ExistingObject {
  id: string;
  /** Its name (`name` input), when it has one. */
  name?: string;
}

/**
 * The objects each type's lookups may resolve to, by Stratus type (a type missing from the map was not
 * listed). The caller leaves out the objects of the stack being loaded (they are its resources).
 */
export type ExistingObjects = ReadonlyMap<ResourceType, readonly ExistingObject[]>;

/** The outcome of looking a name (or id) up among existing objects. */
export type ExistingMatch =
  | { found: ExistingObject }
  | { problem: string }
  /** The objects of the type were not listed (no agent was asked). */
  | { unlisted: true };

/**
 * Finds `v` among the objects of `type`: an object whose id is `v`, else the objects named `v`. As
 * Heat, a name several objects have is ambiguous (PhysicalResourceNameAmbiguity / NoUniqueMatch):
 * the message lists their ids, which the template may give instead. `what` names the type for
 * messages (`OS::Glance::Image`); `quote` shows the value (a hidden parameter's is not shown).
 */
export function findExisting(
  objects: ExistingObjects | undefined,
  type: ResourceType,
  v: string,
  what: string,
  quote: string,
): ExistingMatch {
  const list = objects?.get(type);
  if (!list) return { unlisted: true };
  const byId = list.find((o) => o.id === v);
  if (byId) return { found: byId };
  const named = list.filter((o) => o.name === v);
  if (named.length === 1) return { found: named[0]! };
  if (named.length > 1) {
    const ids = named.map((o) => o.id).sort();
    const shown = ids.slice(0, 5).join(', ') + (ids.length > 5 ? ` and ${ids.length - 5} more` : '');
    return {
      problem: `${named.length} existing ${type}s on the agent are named ${quote} (ids ${shown}): give the id`,
    };
  }
  const names = [...new Set(list.map((o) => o.name).filter((n): n is string => !!n))].sort();
  const known = names.length
    ? `${type}s there: ${names.slice(0, 10).join(', ')}${names.length > 10 ? ` and ${names.length - 10} more` : ''}`
    : `the agent holds no ${type}`;
  return {
    problem: `no ${what} named ${quote} in the template or on the agent (${known}): declare it, name an existing one, or give {get_resource: NAME}`,
  };
}
