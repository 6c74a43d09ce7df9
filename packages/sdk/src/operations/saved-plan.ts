import { readFileSync } from 'node:fs';
import { isUnknown, UNKNOWN } from '@stratus/model';
import { sha256File, writeFileAtomic } from '@stratus/util';
import type { Plan } from '../engine/plan.js';
import { validateSavedPlanFile } from '../state/saved-plan-check.js';
import { type StateDoc, StateError } from '../state/types.js';

/** Version of the saved plan file format. */
export const SAVED_PLAN_VERSION = 2;

/**
 * What `stratus plan -out FILE` writes: the plan plus everything it was made from, so apply can check
 * that nothing moved on: the state's lineage and serial (in the plan) and a SHA-256 of every input file
 * (the stack file, or a program and every local module it imports).
 */
export interface SavedPlan {
  format: 'stratus-plan';
  version: typeof SAVED_PLAN_VERSION;
  /** The stack file or program the plan was made from. */
  stackFile: string;
  /** Every input file with the SHA-256 of its content when the plan was made. */
  inputs: Record<string, string>;
  plan: Plan;
  /** The refreshed state the plan was made against (its serial is the plan's). */
  refreshedState: StateDoc;
}

const UNKNOWN_TAG = { $stratus: 'unknown' };

/** Hashes every input file: `{path: sha256}`. */
export async function hashInputs(files: readonly string[]): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const f of [...files].sort()) out[f] = await sha256File(f);
  return out;
}

/**
 * The input files whose content differs from what the saved plan recorded (or that are gone), as
 * messages; empty when every input is unchanged.
 */
export async function changedInputs(saved: SavedPlan): Promise<string[]> {
  const out: string[] = [];
  for (const [file, sum] of Object.entries(saved.inputs)) {
    let now: string | null;
    try {
      now = await sha256File(file);
    } catch {
      now = null;
    }
    if (now === null) out.push(`${file} is gone`);
    else if (now !== sum) out.push(`${file} changed`);
  }
  return out;
}

/**
 * A copy of `v` with every UNKNOWN replaced by a tag JSON can carry. (A replacer passed to
 * JSON.stringify would see UNKNOWN only after its toJSON turned it into text.)
 */
function tagUnknowns(v: unknown): unknown {
  if (isUnknown(v)) return UNKNOWN_TAG;
  if (Array.isArray(v)) return v.map(tagUnknowns);
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = tagUnknowns(x);
    return out;
  }
  return v;
}

/** Writes a saved plan (mode 0600: it may hold values of sensitive attributes). */
export async function writeSavedPlan(path: string, saved: SavedPlan): Promise<void> {
  await writeFileAtomic(path, JSON.stringify(tagUnknowns(saved)));
}

/**
 * Reads a saved plan, or returns null when `path` is not one (not readable, or not starting as a plan
 * file does). A file that starts as a plan but is damaged is refused: StateError `corrupt`, naming the
 * file and every problem.
 */
export function readSavedPlan(path: string): SavedPlan | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return null;
  }
  if (!text.startsWith('{"format":"stratus-plan"')) return null;
  let json: unknown;
  try {
    json = JSON.parse(text, (_k, v) =>
      v && typeof v === 'object' && (v as { $stratus?: string }).$stratus === 'unknown' ? UNKNOWN : v,
    );
  } catch (e) {
    throw new StateError(
      'corrupt',
      `saved plan ${path} is not valid JSON (${(e as Error).message}); nothing was changed. Make the plan again with: stratus plan -out ${path}`,
    );
  }
  return validateSavedPlanFile(json, path) as SavedPlan;
}
