/**
 * Property values between Pulumi's wire form and the model's. Pulumi sends and receives a resource's
 * properties as a `google.protobuf.Struct` whose plain JSON carries special objects, told apart by a
 * signature key: secrets (`{"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
 * value}`), output values (`...: "d0e6a833031e9bbcd3f4e8bde6ca49a4", value?, secret?`), resource
 * references, and the unknown string `04da6b54-80e4-46f7-96ec-b56ff0331ba9` during previews. Model
 * values are plain JSON with the one UNKNOWN marker. Source: Pulumi's `sdk/go/common/resource/plugin/rpc.go`
 * (MarshalProperties), and its Node.js runtime's `runtime/rpc.ts`.
 */
import { attributes, isUnknown, type ResourceSchema, UNKNOWN } from '@stratus/model';

/** The key of a special object's signature. */
export const SIG_KEY = '4dabf18193072939515e22adb298388d';
/** Signature of a secret. */
export const SECRET_SIG = '1b47061264138c4ac30d75fd1eb44270';
/** Signature of an output value. */
export const OUTPUT_SIG = 'd0e6a833031e9bbcd3f4e8bde6ca49a4';
/** Signature of a resource reference. */
export const RESOURCE_SIG = '5cf8f73096256a8f31e491e813e4eb8e';
/** The value Pulumi sends for a value not known during a preview. */
export const UNKNOWN_VALUE = '04da6b54-80e4-46f7-96ec-b56ff0331ba9';

/** Pulumi properties decoded: model values, and the top-level properties that arrived as secrets. */
export interface Decoded {
  values: Record<string, unknown>;
  secrets: Set<string>;
}

function decode(v: unknown, secret: { found: boolean }): unknown {
  if (v === UNKNOWN_VALUE) return UNKNOWN;
  if (Array.isArray(v)) return v.map((x) => decode(x, secret) ?? null);
  if (v === null || typeof v !== 'object') return v;
  const o = v as Record<string, unknown>;
  switch (o[SIG_KEY]) {
    case SECRET_SIG:
      secret.found = true;
      return decode(o.value, secret);
    case OUTPUT_SIG:
      if (o.secret === true) secret.found = true;
      return 'value' in o ? decode(o.value, secret) : UNKNOWN;
    case RESOURCE_SIG:
      // A resource passed where its id belongs: its id (unknown until it exists).
      return 'id' in o ? decode(o.id, secret) : UNKNOWN;
    default: {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(o)) {
        const d = decode(x, secret);
        if (d !== undefined) out[k] = d;
      }
      return out;
    }
  }
}

/** Decodes Pulumi properties (Struct.toJavaScript()) into model values; nulls are dropped (unset). */
export function fromPulumi(props: Record<string, unknown> | undefined | null): Decoded {
  const values: Record<string, unknown> = {};
  const secrets = new Set<string>();
  for (const [k, v] of Object.entries(props ?? {})) {
    const found = { found: false };
    const d = decode(v, found);
    if (d === null || d === undefined) continue;
    values[k] = d;
    if (found.found) secrets.add(k);
  }
  return { values, secrets };
}

function encode(v: unknown): unknown {
  if (isUnknown(v)) return UNKNOWN_VALUE;
  if (Array.isArray(v)) return v.map(encode);
  if (v === null || typeof v !== 'object') return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) if (x !== undefined) out[k] = encode(x);
  return out;
}

/** A secret as Pulumi's wire form writes it. */
export const secret = (value: unknown): Record<string, unknown> => ({ [SIG_KEY]: SECRET_SIG, value });

/**
 * Model values as Pulumi properties: UNKNOWN as Pulumi's unknown, every sensitive attribute of the
 * type (and each property in `alsoSecret`, those that came in as secrets) wrapped as a secret, so
 * the engine never stores or shows them in plain text.
 */
export function toPulumi(
  schema: ResourceSchema,
  values: Record<string, unknown> | null,
  alsoSecret: ReadonlySet<string> = new Set(),
): Record<string, unknown> {
  const sensitive = new Set(
    attributes(schema)
      .filter((a) => a.sensitive)
      .map((a) => a.name),
  );
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(values ?? {})) {
    if (v === undefined) continue;
    const e = encode(v);
    out[k] = sensitive.has(k) || alsoSecret.has(k) ? secret(e) : e;
  }
  return out;
}
