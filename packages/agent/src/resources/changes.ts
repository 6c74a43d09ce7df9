import { diffInputs, type ResourceType, schemas } from '@stratus/model';
import { conflict } from '../api/errors.js';

/**
 * Compares a requested spec with the recorded one through the model's one diff (the same the engine's
 * plan uses). Refuses (409 requires_replace) a change to an attribute the schema marks requiresReplace;
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
    throw conflict(
      'requires_replace',
      `${type} attribute ${forced.name} cannot change in place; replace the ${type}`,
      forced.name,
    );
  return diff.changes.map((c) => c.name);
}
