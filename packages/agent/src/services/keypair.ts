import { createHash, generateKeyPair } from 'node:crypto';
import { promisify } from 'node:util';
import type { AttributesOf, InputsOf, keypair } from '@stratus/model';
import { InvalidRequest } from '../errors.js';
import { ServiceBase } from './base.js';
import type { AgentContext } from './context.js';
import type { AgentRecordFile } from './store.js';

type KeypairSpec = InputsOf<typeof keypair>;
/** A key pair as the agent records it; `status.publicKey` holds a generated public key. */
export type KeypairRecord = AgentRecordFile<
  KeypairSpec,
  Partial<AttributesOf<typeof keypair>>,
  Record<string, never>
>;

/** An SSH wire-format string: a 32-bit big-endian length, then the bytes (RFC 4251 section 5). */
function sshString(b: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(b.length);
  return Buffer.concat([len, b]);
}

/** An SSH mpint from unsigned big-endian bytes: a leading zero byte when the high bit is set (RFC 4251). */
function sshMpint(b: Buffer): Buffer {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  const v = b.subarray(i);
  return sshString((v[0]! & 0x80) !== 0 ? Buffer.concat([Buffer.from([0]), v]) : v);
}

/** `ssh-rsa AAAA... comment` from an RSA public key's modulus and exponent (RFC 4253 section 6.6). */
function opensshRsa(n: Buffer, e: Buffer, comment: string): string {
  const blob = Buffer.concat([sshString(Buffer.from('ssh-rsa')), sshMpint(e), sshMpint(n)]);
  return `ssh-rsa ${blob.toString('base64')} ${comment}`;
}

/**
 * Nova's key pair fingerprint: the MD5 of the decoded key blob (the public key's second field), as
 * colon-separated lower-case hex. Throws InvalidRequest when the key has no base64 blob.
 */
export function fingerprintOf(publicKey: string): string {
  const blob = publicKey.trim().split(/\s+/)[1];
  if (!blob || !/^[A-Za-z0-9+/]+=*$/.test(blob))
    throw new InvalidRequest('publicKey has no base64 key data', { field: ['publicKey'] });
  const hex = createHash('md5').update(Buffer.from(blob, 'base64')).digest('hex');
  return hex.match(/../g)!.join(':');
}

const rsa = promisify(generateKeyPair);

/** Generates an RSA 2048 key pair: the OpenSSH public key and the PKCS#1 PEM private key. */
export async function generateSshKeyPair(
  comment: string,
): Promise<{ publicKey: string; privateKey: string }> {
  const { publicKey, privateKey } = await rsa('rsa', { modulusLength: 2048, publicExponent: 0x10001 });
  const jwk = publicKey.export({ format: 'jwk' });
  return {
    publicKey: opensshRsa(Buffer.from(jwk.n!, 'base64url'), Buffer.from(jwk.e!, 'base64url'), comment),
    privateKey: privateKey.export({ type: 'pkcs1', format: 'pem' }).toString(),
  };
}

/**
 * Key pairs (Nova keypairs): a given public key is recorded; with none, a pair is generated once and
 * kept, so a retried create answers the same key. Nothing on the host but the record: servers read the
 * public key from it for their config drive.
 */
export class KeypairService extends ServiceBase<KeypairSpec, KeypairRecord['status']> {
  constructor(ctx: AgentContext) {
    super(ctx, 'keypair');
  }

  protected async realize(
    id: string,
    spec: KeypairSpec,
    prior: KeypairRecord | null,
  ): Promise<KeypairRecord> {
    // Every attribute replaces (Nova's key pairs are immutable), so an existing record is already right.
    if (prior) return prior;
    const generated = spec.publicKey ? undefined : await generateSshKeyPair(spec.name ?? id);
    const publicKey = spec.publicKey ?? generated!.publicKey;
    const rec = this.newRecord(
      id,
      spec,
      {
        publicKey,
        fingerprint: fingerprintOf(publicKey),
        type: 'ssh',
        ...(generated ? { privateKey: generated.privateKey } : {}),
      },
      {},
    );
    await this.save(rec);
    return rec;
  }

  protected async remove(): Promise<void> {
    // Nova lets a key pair go while servers still carry its key: their config drives keep it.
  }
}
