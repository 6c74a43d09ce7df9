/**
 * The answer medium of a server installing from an ISO: a small ISO 9660 image (Joliet names, so Windows
 * sees `Autounattend.xml` as written) with the answer file at its root, where Windows Setup's implicit
 * search looks on removable media ("Windows Setup Automation Overview": answer file search order), and
 * the first-logon script under `stratus\`. Also how the agent reads the guest's end-of-setup signal.
 */
import { stat } from 'node:fs/promises';
import {
  ANSWER_FILE_NAME,
  ANSWER_MEDIUM_LABEL,
  type AnswerFileSecrets,
  FIRST_LOGON_SCRIPT,
  INSTALL_COMPLETE_MARKER,
  renderFirstLogonScript,
  withSecrets,
} from '@stratus/model';
import { logger } from '../host/log.js';
import { readLogAfter } from '../storage/files.js';
import { writeIso } from '../storage/iso.js';

const log = logger('unattend');

/**
 * Writes the answer medium at `isoPath` (atomically, mode 0600: it holds the encoded password and the
 * product key): the answer file with the secrets written into their places (see the model's
 * `withSecrets`; the caller checked they fit), and the first-logon script. Neither secret is logged.
 */
export async function writeAnswerMedium(
  isoPath: string,
  answerFile: string,
  secrets: AnswerFileSecrets,
): Promise<void> {
  // Joliet names: Windows sees `Autounattend.xml` as written; Rock Ridge for Linux readers (the stand-in
  // installer of the tests).
  await writeIso(isoPath, {
    label: ANSWER_MEDIUM_LABEL,
    files: [
      [ANSWER_FILE_NAME, withSecrets(answerFile, secrets)],
      [FIRST_LOGON_SCRIPT, renderFirstLogonScript()],
    ],
  });
  log.info('answer medium written', { isoPath });
}

/** Size of the file at `path` in bytes, 0 when it does not exist (a console log before the first boot). */
export async function fileSize(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw e;
  }
}

const MARKER_RE = new RegExp(`(^|\\n)${INSTALL_COMPLETE_MARKER}\\r*(\\n|$)`);

/**
 * Whether the serial console log at `path` has the guest's end-of-setup line
 * ({@link INSTALL_COMPLETE_MARKER} alone on a line) after byte `offset` (where the log ended when the
 * install began; the log is appended to across boots).
 */
export async function installCompleteSeen(path: string, offset: number): Promise<boolean> {
  // The marker is written at the very end of setup: the last 1 MiB holds it.
  return MARKER_RE.test(await readLogAfter(path, offset, 1024 * 1024, 'last'));
}
