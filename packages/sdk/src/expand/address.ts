/**
 * Addresses of resource instances, as Terraform writes them: a resource with `count` has instances
 * `web[0]`, `web[1]`...; one with `forEach`, `web["a"]` (the key as a JSON string). The engine, state,
 * `-target`, `-replace` and `state list/show` take these as the resources' names.
 */

/** The address of instance `key` of resource `name`: `web[0]` or `web["a"]`. */
export function instanceName(name: string, key: number | string): string {
  return typeof key === 'number' ? `${name}[${key}]` : `${name}[${JSON.stringify(key)}]`;
}

/** Splits an address into the resource name and instance key (undefined for a single resource). */
export function parseAddress(address: string): { name: string; key?: number | string } | undefined {
  const m = /^([A-Za-z_][A-Za-z0-9_-]*)(?:\[(?:(\d+)|("(?:[^"\\]|\\.)*"))\])?$/.exec(address);
  if (!m) return undefined;
  if (m[2] !== undefined) return { name: m[1]!, key: Number(m[2]) };
  if (m[3] !== undefined) return { name: m[1]!, key: JSON.parse(m[3]) as string };
  return { name: m[1]! };
}
