import { registry } from './registry.js';
import type { AttributeProblem, ResourceSchema } from './resource.js';
import { validateInputs } from './validate.js';

/**
 * Validates a resource's input attributes completely and completes them as a plan would: the JSON
 * Schema (filling in defaults), then the type's own {@link ResourceSchema.check}, then the values the
 * type derives ({@link ResourceSchema.plan}, e.g. the machine type from the firmware). Mutates `value`.
 * The agent prepares every request with this, and the provider protocol runs the same steps, so both
 * enforce the same limits and compare the same values.
 */
export function validateResource(type: string, value: unknown): AttributeProblem[] {
  const schema = registry[type as keyof typeof registry] as ResourceSchema | undefined;
  if (!schema) return [{ path: [], message: `unknown resource type ${JSON.stringify(type)}` }];
  // The type's checks guard their own types, so they run beside the schema's and every problem shows.
  const problems = [
    ...validateInputs(type as never, value),
    ...(schema.check?.(value as Record<string, unknown>) ?? []),
  ];
  if (problems.length) return problems;
  schema.plan?.(value as Record<string, unknown>);
  return [];
}
