/**
 * The answer medium: an ISO whose root holds Autounattend.xml (well formed per xmllint, the password only
 * encoded in its password elements) and the first-logon script; and the end-of-setup line found only
 * after the install's start in the console log.
 */
import assert from 'node:assert/strict';
import { appendFile, chmod, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  encodeUnattendPassword,
  INSTALL_COMPLETE_MARKER,
  PRODUCT_KEY_PLACEHOLDER,
  renderAnswerFile,
} from '@stratus/model';
import { run } from '../host/exec.js';
import { fileSize, installCompleteSeen, writeAnswerMedium } from './medium.js';

let dir: string;
before(async () => {
  dir = await mkdtemp('/var/tmp/stratus-unattend-test-');
  await chmod(dir, 0o755);
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const PASSWORD = 'Medium-Pa55!';

test('the answer medium has Autounattend.xml at its root, well formed, the password only encoded', async () => {
  const iso = join(dir, 'answer.iso');
  const answer = renderAnswerFile({
    computerName: 'WEB-01',
    locale: 'en-US',
    timeZone: 'UTC',
    firmware: 'uefi',
  });
  await writeAnswerMedium(iso, answer, { adminPass: PASSWORD });
  assert.equal((await stat(iso)).mode & 0o777, 0o600);
  const label = (await run('isoinfo', ['-d', '-i', iso])).stdout;
  assert.match(label, /Volume id: STRATUS-UNATTEND/);
  const listing = (await run('isoinfo', ['-J', '-f', '-i', iso])).stdout.split('\n').filter(Boolean);
  assert.deepEqual(listing.sort(), ['/Autounattend.xml', '/stratus', '/stratus/firstlogon.cmd']);
  const xml = (await run('isoinfo', ['-J', '-i', iso, '-x', '/Autounattend.xml'])).stdout;
  const file = join(dir, 'Autounattend.xml');
  await writeFile(file, xml);
  await run('xmllint', ['--noout', file]); // throws (non-zero exit) when not well formed
  assert.ok(!xml.includes(PASSWORD), 'no clear-text password');
  assert.match(xml, /<ComputerName>WEB-01<\/ComputerName>/);
  const encoded = encodeUnattendPassword(PASSWORD, 'AdministratorPassword');
  assert.equal(xml.split(encoded).length, 2, 'the encoded password once');
  assert.match(
    xml,
    new RegExp(`<AdministratorPassword>\\s*<Value>${encoded.replace(/[+/=]/g, '\\$&')}</Value>`),
  );
  const script = (await run('isoinfo', ['-J', '-i', iso, '-x', '/stratus/firstlogon.cmd'])).stdout;
  assert.match(script, new RegExp(`echo ${INSTALL_COMPLETE_MARKER}>COM1`));
  assert.doesNotMatch(xml, /<ProductKey>/, 'no product key element without a key');
  // Rebuilt in place (an apply while the install runs) without leftovers beside it.
  await writeAnswerMedium(iso, answer, { adminPass: PASSWORD });
  assert.deepEqual((await run('ls', ['-A', dir])).stdout.split('\n').filter(Boolean).sort(), [
    'Autounattend.xml',
    'answer.iso',
  ]);
});

test('the end-of-setup line counts only after the install began, and only as a whole line', async () => {
  const log = join(dir, 'console.log');
  assert.equal(await fileSize(log), 0);
  assert.equal(await installCompleteSeen(log, 0), false);
  await writeFile(log, `old boot\r\n${INSTALL_COMPLETE_MARKER}\r\n`);
  const offset = await fileSize(log);
  assert.equal(await installCompleteSeen(log, 0), true);
  assert.equal(await installCompleteSeen(log, offset), false, 'a line from before the install');
  await appendFile(
    log,
    `installer says echo ${INSTALL_COMPLETE_MARKER}>COM1\r\n${INSTALL_COMPLETE_MARKER}-NOT\r\n`,
  );
  assert.equal(await installCompleteSeen(log, offset), false, 'not alone on its line');
  await appendFile(log, `${INSTALL_COMPLETE_MARKER}\r\r\n[  12.3] reboot: Power down\r\n`);
  assert.equal(await installCompleteSeen(log, offset), true);
});

test('a product key goes into UserData/ProductKey/Key on the medium only, never into the plan text', async () => {
  const iso = join(dir, 'keyed.iso');
  const key = 'AAAAA-BBBBB-CCCCC-DDDDD-EEEEE';
  const answer = renderAnswerFile({
    computerName: 'WEB-02',
    locale: 'en-US',
    timeZone: 'UTC',
    firmware: 'uefi',
    productKey: true,
  });
  assert.ok(!answer.includes(key), 'the planned file has the placeholder, not the key');
  assert.match(answer, new RegExp(`<Key>${PRODUCT_KEY_PLACEHOLDER}</Key>`));
  await writeAnswerMedium(iso, answer, { adminPass: PASSWORD, productKey: key });
  const xml = (await run('isoinfo', ['-J', '-i', iso, '-x', '/Autounattend.xml'])).stdout;
  assert.match(xml, new RegExp(`<UserData>[\\s\\S]*<ProductKey>\\s*<Key>${key}</Key>[\\s\\S]*</UserData>`));
  assert.ok(!xml.includes(PRODUCT_KEY_PLACEHOLDER));
  await rm(iso);
});
