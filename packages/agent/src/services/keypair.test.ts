import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { run } from '../host/exec.js';
import { fingerprintOf, generateSshKeyPair } from './keypair.js';

test('a generated key pair is one OpenSSH reads: ssh-keygen derives the same public key and fingerprint', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'stratus-keypair-'));
  try {
    const { publicKey, privateKey } = await generateSshKeyPair('web-key');
    const priv = join(dir, 'id_rsa');
    const pub = join(dir, 'id_rsa.pub');
    await writeFile(priv, privateKey, { mode: 0o600 });
    await writeFile(pub, `${publicKey}\n`);
    const derived = (await run('ssh-keygen', ['-y', '-f', priv])).stdout.trim();
    assert.equal(derived.split(' ').slice(0, 2).join(' '), publicKey.split(' ').slice(0, 2).join(' '));
    const md5 = (await run('ssh-keygen', ['-l', '-E', 'md5', '-f', pub])).stdout;
    assert.match(md5, /^2048 MD5:/);
    assert.equal(`MD5:${fingerprintOf(publicKey)}`, md5.split(' ')[1]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('the fingerprint of a given key is the MD5 of its key blob, as Nova computes it (ssh-keygen agrees)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'stratus-keypair-'));
  try {
    const priv = join(dir, 'id_ed25519');
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'someone@example', '-f', priv]);
    const key = (await readFile(`${priv}.pub`, 'utf8')).trim();
    const md5 = (await run('ssh-keygen', ['-l', '-E', 'md5', '-f', `${priv}.pub`])).stdout;
    assert.equal(`MD5:${fingerprintOf(key)}`, md5.split(' ')[1]);
    assert.throws(() => fingerprintOf('ssh-ed25519'), /no base64 key data/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
