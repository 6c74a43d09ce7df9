/**
 * Decrypting a posted server password: ciphertext made as the guest makes it (RSA PKCS#1 v1.5 with the
 * public key, base64), keys as users have them (Stratus's generated PKCS#1 PEM, PKCS#8, ssh-keygen's
 * OpenSSH format), and clear errors for the wrong key, a passphrase, a non-RSA key and non-base64 text.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { constants, createPublicKey, generateKeyPairSync, type KeyObject, publicEncrypt } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { decryptServerPassword, PasswordDecryptError, readRsaPrivateKey } from './server-password.js';

const dir = mkdtempSync(join(tmpdir(), 'stratus-pw-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** What cloudbase-init posts: base64 of the password encrypted with PKCS#1 v1.5 padding. */
const guestEncrypt = (password: string, publicKey: KeyObject) =>
  publicEncrypt(
    { key: publicKey, padding: constants.RSA_PKCS1_PADDING },
    Buffer.from(password, 'utf8'),
  ).toString('base64');

const PASSWORD = 'Zx8!qP2#w-Ünïcode_ok';

test('PEM keys (PKCS#1 as Stratus generates them, and PKCS#8) decrypt what the guest posted', () => {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const posted = guestEncrypt(PASSWORD, publicKey);
  for (const pem of [
    privateKey.export({ type: 'pkcs1', format: 'pem' }).toString(),
    privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  ])
    assert.equal(decryptServerPassword(posted, readRsaPrivateKey(pem)), PASSWORD);
  // Line breaks in the base64 text (as some tools wrap it) do not matter.
  assert.equal(
    decryptServerPassword(
      posted.replace(/(.{64})/g, '$1\n'),
      readRsaPrivateKey(privateKey.export({ type: 'pkcs1', format: 'pem' }).toString()),
    ),
    PASSWORD,
  );
});

test("ssh-keygen's OpenSSH key (RSA 3072, no passphrase) decrypts; with a passphrase it is refused with what to do", () => {
  const file = join(dir, 'id_rsa');
  const made = spawnSync('ssh-keygen', ['-q', '-t', 'rsa', '-b', '3072', '-N', '', '-C', 't', '-f', file]);
  assert.equal(made.status, 0, made.stderr?.toString());
  const text = readFileSync(file, 'utf8');
  assert.match(text, /BEGIN OPENSSH PRIVATE KEY/);
  const key = readRsaPrivateKey(text);
  // The public half from ssh-keygen itself, as the server's key pair would carry it.
  const pub = spawnSync('ssh-keygen', ['-e', '-m', 'PKCS8', '-f', `${file}.pub`], { encoding: 'utf8' });
  assert.equal(pub.status, 0, pub.stderr);
  const posted = guestEncrypt(PASSWORD, createPublicKey(pub.stdout));
  assert.equal(decryptServerPassword(posted, key), PASSWORD);

  const locked = join(dir, 'locked');
  assert.equal(
    spawnSync('ssh-keygen', ['-q', '-t', 'rsa', '-b', '2048', '-N', 'secret-pass', '-f', locked]).status,
    0,
  );
  assert.throws(() => readRsaPrivateKey(readFileSync(locked, 'utf8')), /passphrase/);
});

test('the wrong key, a non-RSA key and text that is not base64 are refused clearly, never with the key', () => {
  const a = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const b = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const posted = guestEncrypt(PASSWORD, a.publicKey);
  const bPem = b.privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
  assert.throws(
    () => decryptServerPassword(posted, readRsaPrivateKey(bPem)),
    (e: unknown) =>
      e instanceof PasswordDecryptError && /another key/.test(e.message) && !e.message.includes('PRIVATE'),
  );
  // A 4096-bit key: the ciphertext's size tells it is not the key it was made for.
  const big = generateKeyPairSync('rsa', { modulusLength: 4096 });
  assert.throws(
    () =>
      decryptServerPassword(
        posted,
        readRsaPrivateKey(big.privateKey.export({ type: 'pkcs1', format: 'pem' }).toString()),
      ),
    /256 bytes of ciphertext; this 4096-bit key makes 512/,
  );
  const ed = generateKeyPairSync('ed25519');
  assert.throws(
    () => readRsaPrivateKey(ed.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()),
    /ed25519; the password is encrypted with an RSA key/,
  );
  const edFile = join(dir, 'id_ed25519');
  assert.equal(spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', edFile]).status, 0);
  assert.throws(
    () => readRsaPrivateKey(readFileSync(edFile, 'utf8')),
    /ssh-ed25519; the password is encrypted/,
  );
  assert.throws(() => readRsaPrivateKey('not a key'), /not a private key/);
  assert.throws(() => decryptServerPassword('@@not base64@@', readRsaPrivateKey(bPem)), /not base64/);
});
