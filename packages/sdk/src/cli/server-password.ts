/**
 * Decrypting the password a guest posted to the metadata service, as `nova get-password KEY` does: base64
 * of RSA PKCS#1 v1.5 ciphertext (RFC 8017
 * section 7.2), made with the server's first SSH public key, as cloudbase-init's
 * `crypt.CryptManager.public_encrypt` and Nova's own `nova.crypto.ssh_encrypt_text` do.
 *
 * Node's `privateDecrypt` refuses PKCS#1 v1.5 padding since the Marvin fix (CVE-2023-46809), so the raw
 * RSA operation is done with no padding and the block is unpadded here (RFC 8017 7.2.2 step 3). That is
 * safe here: this runs once, locally, on the user's own key, with no oracle an attacker could query.
 *
 * Keys: PEM (PKCS#1 `RSA PRIVATE KEY`, PKCS#8 `PRIVATE KEY`, as Stratus generates and `ssh-keygen -m PEM`
 * writes) and unencrypted OpenSSH (`OPENSSH PRIVATE KEY`, ssh-keygen's default; format from OpenSSH's
 * PROTOCOL.key). Passphrase-protected keys are refused with how to decrypt them first.
 */
import { constants, createPrivateKey, type KeyObject, privateDecrypt } from 'node:crypto';

/** Why a key or ciphertext could not be used; the message never holds key material or the password. */
export class PasswordDecryptError extends Error {
  override readonly name = 'PasswordDecryptError';
}

/** A reader of the SSH wire format (RFC 4251 section 5): uint32, string, mpint. */
class SshReader {
  private at = 0;
  constructor(private readonly buf: Buffer) {}
  u32(): number {
    if (this.at + 4 > this.buf.length) throw new PasswordDecryptError('the OpenSSH private key is truncated');
    const v = this.buf.readUInt32BE(this.at);
    this.at += 4;
    return v;
  }
  bytes(): Buffer {
    const n = this.u32();
    if (this.at + n > this.buf.length) throw new PasswordDecryptError('the OpenSSH private key is truncated');
    const v = this.buf.subarray(this.at, this.at + n);
    this.at += n;
    return v;
  }
  text(): string {
    return this.bytes().toString('latin1');
  }
  /** An mpint as an unsigned big integer (keys' values are positive; a leading 0 byte only marks sign). */
  big(): bigint {
    const b = this.bytes();
    return b.length === 0 ? 0n : BigInt(`0x${b.toString('hex')}`);
  }
}

const MAGIC = Buffer.from('openssh-key-v1\0', 'latin1');

/** base64url of a positive big integer, as JWK wants it (RFC 7518 section 6.3). */
function b64u(n: bigint): string {
  let hex = n.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  return Buffer.from(hex, 'hex').toString('base64url');
}

/** The RSA key of an unencrypted OpenSSH private key file (PROTOCOL.key). */
function opensshRsaKey(text: string): KeyObject {
  const body = text.replace(/-----(BEGIN|END) OPENSSH PRIVATE KEY-----/g, '').replace(/\s+/g, '');
  const raw = Buffer.from(body, 'base64');
  if (!raw.subarray(0, MAGIC.length).equals(MAGIC))
    throw new PasswordDecryptError('not an OpenSSH private key (no openssh-key-v1 header)');
  const r = new SshReader(raw.subarray(MAGIC.length));
  const cipher = r.text();
  r.text(); // kdf name
  r.bytes(); // kdf options
  if (cipher !== 'none')
    throw new PasswordDecryptError(
      'the private key is protected by a passphrase: give a decrypted copy (e.g. `ssh-keygen -p -N "" -f COPY` on a copy of it)',
    );
  if (r.u32() !== 1) throw new PasswordDecryptError('the OpenSSH key file holds more than one key');
  r.bytes(); // public key
  const priv = new SshReader(r.bytes());
  const check1 = priv.u32();
  if (check1 !== priv.u32())
    throw new PasswordDecryptError('the OpenSSH private key is corrupt (its check bytes differ)');
  const type = priv.text();
  if (type !== 'ssh-rsa')
    throw new PasswordDecryptError(
      `the private key is ${type}; the password is encrypted with an RSA key (ssh-rsa), the server's first key`,
    );
  const n = priv.big();
  const e = priv.big();
  const d = priv.big();
  const qi = priv.big();
  const p = priv.big();
  const q = priv.big();
  return createPrivateKey({
    format: 'jwk',
    key: {
      kty: 'RSA',
      n: b64u(n),
      e: b64u(e),
      d: b64u(d),
      p: b64u(p),
      q: b64u(q),
      dp: b64u(d % (p - 1n)),
      dq: b64u(d % (q - 1n)),
      qi: b64u(qi),
    },
  });
}

/** The private key in `text` (PEM or OpenSSH), which must be RSA. */
export function readRsaPrivateKey(text: string): KeyObject {
  let key: KeyObject;
  if (text.includes('-----BEGIN OPENSSH PRIVATE KEY-----')) key = opensshRsaKey(text);
  else {
    if (/-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/.test(text))
      throw new PasswordDecryptError(
        'the private key is protected by a passphrase: give a decrypted copy (e.g. `openssl pkey -in KEY -out COPY`)',
      );
    try {
      key = createPrivateKey({ key: text, format: 'pem' });
    } catch {
      throw new PasswordDecryptError(
        'not a private key in a form this reads (PEM: RSA PRIVATE KEY or PRIVATE KEY; or OPENSSH PRIVATE KEY)',
      );
    }
  }
  if (key.asymmetricKeyType !== 'rsa')
    throw new PasswordDecryptError(
      `the private key is ${key.asymmetricKeyType ?? 'not RSA'}; the password is encrypted with an RSA key, the server's first key`,
    );
  return key;
}

/**
 * The clear-text password from `encrypted` (base64 of RSA PKCS#1 v1.5 ciphertext) and the private key
 * `key`. Throws {@link PasswordDecryptError} when the text is not base64 of one RSA block of this key's
 * size, or the block does not unpad (the wrong key).
 */
export function decryptServerPassword(encrypted: string, key: KeyObject): string {
  const compact = encrypted.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(compact))
    throw new PasswordDecryptError('the posted password is not base64 text');
  const ct = Buffer.from(compact, 'base64');
  const k = Math.ceil(Number(key.asymmetricKeyDetails?.modulusLength ?? 0) / 8);
  if (ct.length !== k)
    throw new PasswordDecryptError(
      `the posted password is ${ct.length} bytes of ciphertext; this ${k * 8}-bit key makes ${k}: it was encrypted with another key`,
    );
  let em: Buffer;
  try {
    em = privateDecrypt({ key, padding: constants.RSA_NO_PADDING }, ct);
  } catch {
    // A block at or above this key's modulus: made with another key of the same size.
    throw new PasswordDecryptError(
      'the password does not decrypt with this key (it was encrypted with another key)',
    );
  }
  // EM = 0x00 || 0x02 || PS (at least 8 non-zero bytes) || 0x00 || M.
  const sep = em.indexOf(0, 2);
  if (em[0] !== 0 || em[1] !== 2 || sep < 10)
    throw new PasswordDecryptError(
      'the password does not decrypt with this key (it was encrypted with another key)',
    );
  return em.subarray(sep + 1).toString('utf8');
}
