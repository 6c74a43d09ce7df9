import { readFileSync } from 'node:fs';
import type { Plan } from '../engine/plan.js';
import { UNKNOWN } from '../engine/values.js';
import type { StateDoc } from '../state/types.js';
import { writeFileAtomic } from '../util/fs.js';

/** What `stratus plan -out FILE` writes: the plan plus what it was made from, so apply can check both. */
export interface SavedPlan {
  format: 'stratus-plan';
  version: 1;
  /** The stack file and the SHA-256 of its content when the plan was made. */
  stackFile: string;
  stackSha256: string;
  plan: Plan;
  /** The refreshed state the plan was made against (its serial is the plan's). */
  refreshedState: StateDoc;
}

const UNKNOWN_TAG = { $stratus: 'unknown' };

/** Writes a saved plan (mode 0600: it may hold values of sensitive attributes). */
export async function writeSavedPlan(path: string, saved: SavedPlan): Promise<void> {
  await writeFileAtomic(
    path,
    JSON.stringify(saved, (_k, v) => (v === UNKNOWN ? UNKNOWN_TAG : v)),
  );
}

/** Reads a saved plan, or returns null when `path` is not one. */
export function readSavedPlan(path: string): SavedPlan | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return null;
  }
  if (!text.startsWith('{"format":"stratus-plan"')) return null;
  return JSON.parse(text, (_k, v) =>
    v && typeof v === 'object' && (v as { $stratus?: string }).$stratus === 'unknown' ? UNKNOWN : v,
  ) as SavedPlan;
}
