/**
 * Validation of a state document when it is read: a document of the wrong shape (`{}`, `null`, a list,
 * wrong types) is refused with every problem and how to restore the backup, rather than crashing the
 * engine later or being taken as "no state" (which would plan to create everything again).
 */
import { resourceTypes } from '@stratus/model';
import { ShapeProblems } from './shape.js';
import { STATE_VERSION, type StateDoc, StateError } from './types.js';

const STATUSES = ['ready', 'tainted', 'creating', 'deposed'] as const;

/** Adds the problems of a state document (`json`, parsed) to `p`, with paths inside the document. */
export function stateDocProblems(json: unknown, p: ShapeProblems, at = ''): void {
  const doc = p.object(json, at);
  if (!doc) return;
  const f = (k: string) => (at ? `${at}.${k}` : k);
  if (doc.version !== STATE_VERSION)
    p.add(
      f('version'),
      typeof doc.version === 'number' && doc.version > STATE_VERSION
        ? `${doc.version} is newer than this Stratus understands (${STATE_VERSION}); upgrade Stratus`
        : `must be ${STATE_VERSION}`,
    );
  p.integer(doc.serial, f('serial'));
  p.string(doc.lineage, f('lineage'), { nonEmpty: true });
  p.string(doc.stack, f('stack'));
  if (
    doc.randomSeed !== undefined &&
    (typeof doc.randomSeed !== 'string' || !/^[0-9a-f]{64}$/.test(doc.randomSeed))
  )
    p.add(f('randomSeed'), 'must be 64 hex digits');
  if (doc.parameters !== undefined) parameterDigestsProblems(doc.parameters, p, f('parameters'));
  const resources = p.array(doc.resources, f('resources'));
  resources?.forEach((r, i) => {
    const rp = `${f('resources')}[${i}]`;
    const o = p.object(r, rp);
    if (!o) return;
    p.string(o.name, `${rp}.name`, { nonEmpty: true });
    p.oneOf(o.type, `${rp}.type`, resourceTypes);
    p.string(o.id, `${rp}.id`, { nonEmpty: true });
    p.object(o.attributes, `${rp}.attributes`);
    p.stringList(o.dependencies, `${rp}.dependencies`);
    p.oneOf(o.status, `${rp}.status`, STATUSES);
  });
  const outputs = p.object(doc.outputs, f('outputs'));
  for (const [k, v] of Object.entries(outputs ?? {})) {
    const o = p.object(v, `${f('outputs')}.${k}`);
    if (o) p.boolean(o.sensitive, `${f('outputs')}.${k}.sensitive`);
  }
}

/** Adds the problems of a ParameterDigests value (state or saved plan) at `at` to `p`. */
export function parameterDigestsProblems(v: unknown, p: ShapeProblems, at: string): void {
  const o = p.object(v, at);
  if (!o) return;
  if (typeof o.salt !== 'string' || !/^[0-9a-f]{32}$/.test(o.salt))
    p.add(`${at}.salt`, 'must be 32 hex digits');
  const digests = p.object(o.digests, `${at}.digests`);
  for (const [k, d] of Object.entries(digests ?? {}))
    if (typeof d !== 'string' || !/^[0-9a-f]{64}$/.test(d))
      p.add(`${at}.digests.${k}`, 'must be an HMAC-SHA256 in hex');
}

/**
 * Returns `json` as a state document, or throws a StateError (`corrupt`) naming `where` (the file or
 * table), every problem, and `restore`: how to put the backup back.
 */
export function checkStateDoc(json: unknown, where: string, restore: string): StateDoc {
  const p = new ShapeProblems();
  stateDocProblems(json, p);
  if (p.items.length === 0) return json as StateDoc;
  throw new StateError(
    'corrupt',
    `state ${where} is not a valid Stratus state document; nothing was changed:\n${p.text()}\n${restore}`,
  );
}
