import { diffInputs, type ResourceType, schemas } from '@stratus/model';
import { RequiresReplace } from '../errors.js';

/**
 * Compares a requested spec with the recorded one through the model's one diff (the same the engine's
 * plan uses). Refuses (RequiresReplace, naming the attribute) a change to an attribute the schema marks requiresReplace;
 * returns the names of attributes that may change in place.
 */
export function specChanges(
  type: ResourceType,
  recorded: Record<string, unknown>,
  requested: Record<string, unknown>,
): string[] {
  const diff = diffInputs(schemas[type], recorded, requested);
  const forced = diff.changes.find((c) => c.requiresReplace);
  if (forced)
    throw new RequiresReplace(
      `${type} attribute ${forced.name} cannot change in place; replace the ${type}`,
      {
        field: [forced.name],
      },
    );
  return diff.changes.map((c) => c.name);
}
