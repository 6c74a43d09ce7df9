/**
 * Encoding and decoding of the protocol's messages (protobufjs), loaded after the handshake: the gRPC
 * server moves bytes, and each call decodes its request here. Values are shaped as
 * @grpc/proto-loader gives them with the options the provider was written against: snake_case field
 * names, enums as their names, 64-bit integers as numbers, bytes as Buffers, defaults filled in.
 */
import protobuf from 'protobufjs';
import type { NamespaceJson } from './protocol.js';

const TO_OBJECT: protobuf.IConversionOptions = {
  longs: Number,
  enums: String,
  bytes: Buffer as unknown as typeof String,
  defaults: true,
  oneofs: false,
};

/** Encoder and decoder of every message type of a protocol descriptor. */
export class Codec {
  private readonly root: protobuf.Root;
  private readonly types = new Map<string, protobuf.Type>();
  constructor(json: NamespaceJson) {
    this.root = protobuf.Root.fromJSON(json as protobuf.INamespace);
  }
  private type(name: string): protobuf.Type {
    let t = this.types.get(name);
    if (!t) {
      t = this.root.lookupType(name);
      this.types.set(name, t);
    }
    return t;
  }
  /** A message of type `name` from its bytes, as a plain object. */
  decode(name: string, bytes: Uint8Array): Record<string, unknown> {
    const t = this.type(name);
    return t.toObject(t.decode(bytes), TO_OBJECT);
  }
  /** The bytes of a plain object as a message of type `name`. */
  encode(name: string, value: unknown): Buffer {
    const t = this.type(name);
    return Buffer.from(t.encode(t.fromObject(value as Record<string, unknown>)).finish());
  }
}
