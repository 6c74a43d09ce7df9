import { attributes, type ResourceType, schemas } from '@stratus/model';
import { conflict } from '../api/errors.js';

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * Compares a requested spec with the recorded one. Refuses (409 requires_replace) a change to an
 * attribute the schema marks requiresReplace; returns the names of attributes that may change in place.
 * Optional+computed attributes left out of the request keep their recorded value.
 */
export function specChanges(
  type: ResourceType,
  recorded: Record<string, unknown>,
  requested: Record<string, unknown>,
): string[] {
  const changed: string[] = [];
  for (const a of attributes(schemas[type])) {
    if (!a.input) continue;
    if (requested[a.name] === undefined && a.computed) continue;
    if (same(recorded[a.name], requested[a.name])) continue;
    if (a.requiresReplace)
      throw conflict(
        'requires_replace',
        `${type} attribute ${a.name} cannot change in place; replace the ${type}`,
        a.name,
      );
    changed.push(a.name);
  }
  return changed;
}
