import type { TSchema } from '@sinclair/typebox';

/**
 * Per-attribute metadata, carried as extra keywords on the attribute's JSON Schema. Everything that
 * treats attributes differently (plan actions, redaction, references, agent updates) reads these.
 * `required`, `optional` and `default` are plain JSON Schema (`required` list, `default` keyword).
 */
export interface AttrMeta {
  /** Changing the value replaces the resource (delete + create); otherwise it is updated in place. */
  requiresReplace?: boolean;
  /** The value is secret: redacted in plan output, show, logs and error messages. */
  sensitive?: boolean;
  /** The value can be changed on a running resource without disturbing it. */
  updatableLive?: boolean;
  /** The value is the id of another resource of this type (a registered type; a test checks it). */
  ref?: string;
  /**
   * With `ref`: the holder also depends on every resource of this type that references the same target
   * (a server on a network takes its address from that network's subnets).
   */
  refIncludes?: string;
  /** Set by the agent; for an input attribute, also computed when the user leaves it out. */
  computed?: boolean;
  /** A file path on the machine running Stratus; loaders resolve it relative to the stack file. */
  localPath?: boolean;
}

/** The metadata keywords, as registered with ajv. */
export const META_KEYWORDS = [
  'requiresReplace',
  'sensitive',
  'updatableLive',
  'ref',
  'refIncludes',
  'computed',
  'localPath',
] as const;

/**
 * Keywords of the schemas that word error messages (registered with ajv, not JSON Schema): a pattern's
 * `formatName` (what a matching string is, "an IPv4 address"), and a map's `keyFormatName` (what its
 * keys must be, for a map whose keys have a pattern: a key that does not match is reported with it).
 */
export const MESSAGE_KEYWORDS = ['formatName', 'keyFormatName'] as const;

/** Reads the metadata of an attribute schema. */
export function attrMeta(schema: TSchema): AttrMeta {
  const s = schema as TSchema & AttrMeta;
  return {
    requiresReplace: s.requiresReplace === true,
    sensitive: s.sensitive === true,
    updatableLive: s.updatableLive === true,
    ref: s.ref,
    refIncludes: s.refIncludes,
    computed: s.computed === true,
    localPath: s.localPath === true,
  };
}
