/**
 * Values between Terraform's wire form and the model's: DynamicValue in MessagePack (objects with every
 * attribute present, null for unset, snake_case names) <-> plain model values (camelCase, unset
 * attributes absent), with Terraform's unknown value (MessagePack extension 0, or 12 when refined) as
 * the model's UNKNOWN. Source: terraform docs/plugin-protocol/object-wire-format.md.
 */
import { decode, ExtensionCodec, encode } from '@msgpack/msgpack';
import { type AttributePath, isUnknown, UNKNOWN } from '@stratus/model';
import type { Shape, ShapeField } from './schema.js';

const codec = new ExtensionCodec();
// Unknown: extension 0 with an ignored payload; refined unknowns (12) are treated as wholly unknown.
codec.register({
  type: 0,
  encode: (v: unknown) => (isUnknown(v) ? new Uint8Array(0) : null),
  decode: () => UNKNOWN,
});
codec.register({ type: 12, encode: () => null, decode: () => UNKNOWN });

/** A DynamicValue as protobuf gives it. */
export interface DynamicValue {
  msgpack?: Uint8Array | Buffer;
  json?: Uint8Array | Buffer;
}

/** Decodes a DynamicValue (MessagePack, or JSON when that is what was sent) into Terraform-named values. */
export function decodeDynamic(v: DynamicValue | null | undefined): unknown {
  if (!v) return null;
  if (v.msgpack && v.msgpack.length > 0) return decode(v.msgpack, { extensionCodec: codec });
  if (v.json && v.json.length > 0) return JSON.parse(Buffer.from(v.json).toString('utf8'));
  return null;
}

/** Encodes Terraform-named values as a MessagePack DynamicValue. */
export function encodeDynamic(v: unknown): DynamicValue {
  return { msgpack: encode(v, { extensionCodec: codec, ignoreUndefined: false }) };
}

/** Terraform form -> model form: names mapped back, nulls dropped (unset), numbers from strings. */
export function fromTf(v: unknown, s: Shape): unknown {
  if (v === null || v === undefined) return undefined;
  if (isUnknown(v)) return UNKNOWN;
  switch (s.kind) {
    case 'primitive':
      if (s.type === 'number' && typeof v === 'string') return Number(v);
      if (s.type === 'number' && typeof v === 'bigint') return Number(v);
      return v;
    case 'list':
      return Array.isArray(v) ? v.map((x) => fromTf(x, s.item) ?? null) : v;
    case 'map': {
      if (typeof v !== 'object') return v;
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) out[k] = fromTf(x, s.item) ?? null;
      return out;
    }
    case 'object': {
      if (typeof v !== 'object') return v;
      const src = v as Record<string, unknown>;
      const out: Record<string, unknown> = {};
      for (const f of s.fields) {
        const x = fromTf(src[f.tf], f.shape);
        if (x !== undefined) out[f.key] = x;
      }
      return out;
    }
  }
}

/** Model form -> Terraform form: every attribute of an object present (null when unset). */
export function toTf(v: unknown, s: Shape): unknown {
  if (v === null || v === undefined) return null;
  if (isUnknown(v)) return UNKNOWN;
  switch (s.kind) {
    case 'primitive':
      if (s.type === 'string' && typeof v !== 'string') return String(v);
      return v;
    case 'list':
      return Array.isArray(v) ? v.map((x) => toTf(x, s.item)) : null;
    case 'map': {
      if (typeof v !== 'object') return null;
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) out[k] = toTf(x, s.item);
      return out;
    }
    case 'object': {
      if (typeof v !== 'object') return null;
      const src = v as Record<string, unknown>;
      const out: Record<string, unknown> = {};
      for (const f of s.fields) out[f.tf] = toTf(src[f.key], f.shape);
      return out;
    }
  }
}

/** One step of a Terraform AttributePath message. */
export type TfPathStep =
  | { attribute_name: string }
  | { element_key_string: string }
  | { element_key_int: number };

/**
 * A model attribute path (`networks[0].subnet`) as Terraform's AttributePath steps, names mapped along
 * the shape. Steps past what the shape knows are kept as they are.
 */
export function tfPath(path: AttributePath, s: Shape): TfPathStep[] {
  const out: TfPathStep[] = [];
  let cur: Shape | undefined = s;
  for (const p of path) {
    if (cur?.kind === 'object' && typeof p === 'string') {
      const f: ShapeField | undefined = cur.fields.find((x) => x.key === p);
      out.push({ attribute_name: f?.tf ?? p });
      cur = f?.shape;
    } else if (cur?.kind === 'map') {
      out.push({ element_key_string: String(p) });
      cur = cur.item;
    } else if (cur?.kind === 'list' && typeof p === 'number') {
      out.push({ element_key_int: p });
      cur = cur.item;
    } else {
      out.push(typeof p === 'number' ? { element_key_int: p } : { attribute_name: p });
      cur = undefined;
    }
  }
  return out;
}
