/**
 * The server's unattended-install fields (issue 13): `installMedia` (an ISO the server installs from onto
 * a blank root disk), `driverMedia` (e.g. the virtio-win ISO), `unattend` (locale, time zone, edition) and
 * the answer file the plan shows (`answerFile`, computed). Kept apart from server.ts so the server's own
 * file stays about the server; server.ts spreads these into its schema and calls the hooks.
 */
import { Ref } from '../formats.js';
import { hostnameFromName } from '../host-text.js';
import type { AttributeProblem } from '../resource.js';
import { Type } from '../typebox.generated.js';
import {
  answerFileSecretsProblem,
  computerNameFor,
  INSTALL_COMPLETE_MARKER,
  PRODUCT_KEY_PATTERN,
  PRODUCT_KEY_PLACEHOLDER,
  renderAnswerFile,
  timeZoneProblem,
} from '../unattend.js';
import { isUnknown, UNKNOWN } from '../unknown.js';

/** Locale of the answer file when `unattend.locale` is not set. */
export const DEFAULT_INSTALL_LOCALE = 'en-US';
/** Time zone of the answer file when `unattend.timeZone` is not set. */
export const DEFAULT_INSTALL_TIME_ZONE = 'UTC';

/** The install inputs, spread into the server's input schema. */
export const INSTALL_INPUTS = {
  installMedia: Type.Optional(
    Ref('image', {
      requiresReplace: true,
      description:
        'An installer ISO (an image of diskFormat iso, e.g. a Windows installation ISO) the server installs ' +
        "from onto a blank root disk (the flavor's disk size), with a generated answer file (`answerFile`) on " +
        `a small answer medium. Setup signals its end with the line ${INSTALL_COMPLETE_MARKER} on the first ` +
        'serial port and a power-off; the agent then detaches the install, driver and answer media and boots ' +
        'the server from its disk (or does so at the next apply). Excludes image; needs adminPass.',
    }),
  ),
  driverMedia: Type.Optional(
    Ref('image', {
      requiresReplace: true,
      description:
        'A driver ISO (diskFormat iso, e.g. virtio-win) attached as a second CD-ROM while the server installs; ' +
        'the answer file loads its drivers (see unattend.driverOs) and the first logon runs its guest tools.',
    }),
  ),
  unattend: Type.Optional(
    Type.Object(
      {
        locale: Type.Optional(
          Type.String({
            pattern: '^[a-z]{2,3}(-[A-Za-z]{2,4})?-[A-Z]{2}$',
            formatName: 'a Windows locale such as en-US',
            description: `UI language, system, user and input locale (default ${DEFAULT_INSTALL_LOCALE}).`,
          }),
        ),
        keyboard: Type.Optional(
          Type.String({
            pattern: '^([a-z]{2,3}(-[A-Za-z]{2,4})?-[A-Z]{2}|[0-9A-Fa-f]{4}:[0-9A-Fa-f]{8})$',
            formatName: 'a locale such as de-DE or a layout id such as 0407:00000407',
            description: 'Keyboard layout (input locale); default the locale.',
          }),
        ),
        timeZone: Type.Optional(
          Type.String({
            minLength: 1,
            maxLength: 64,
            description: `Windows time zone id, as \`tzutil /l\` lists them (default ${DEFAULT_INSTALL_TIME_ZONE}).`,
          }),
        ),
        imageName: Type.Optional(
          Type.String({
            pattern: '^[^<>&\\u0000-\\u001f]{1,128}$',
            formatName: 'an install.wim image name',
            description:
              'Edition to install, by its name in install.wim (e.g. "Windows Server 2022 SERVERSTANDARD"; `dism /Get-WimInfo` lists them); default the first image.',
          }),
        ),
        driverOs: Type.Optional(
          Type.String({
            pattern: '^[A-Za-z0-9._-]{1,16}$',
            formatName: 'a virtio-win folder name such as w11 or 2k22',
            description:
              'Folder of the Windows version on the driver media (virtio-win: w10, w11, 2k16, 2k19, 2k22, 2k25); Setup loads <driver>\\<driverOs>\\amd64 of viostor, vioscsi, NetKVM, Balloon, vioserial and viorng. Needs driverMedia.',
          }),
        ),
      },
      {
        additionalProperties: false,
        requiresReplace: true,
        description: 'What the generated answer file sets (with installMedia).',
      },
    ),
  ),
  productKey: Type.Optional(
    Type.String({
      pattern: PRODUCT_KEY_PATTERN,
      formatName: 'a Windows product key (five groups of five letters or digits, joined by hyphens)',
      sensitive: true,
      requiresReplace: true,
      description: `Product key Windows Setup installs with (Microsoft-Windows-Setup UserData/ProductKey/Key of the answer file), for media that ask for one; never shown. The plan's answer file has ${PRODUCT_KEY_PLACEHOLDER} where it goes; the agent writes it onto the answer medium. Needs installMedia.`,
    }),
  ),
  answerFile: Type.Optional(
    Type.String({
      computed: true,
      maxLength: 262144,
      description:
        "The Autounattend.xml put at the root of the answer medium; default: generated from the server (computer name from the host name, 15 characters at most, NetBIOS-safe; GPT layout with firmware uefi, MBR with bios; unattend's locale and time zone; driver paths; a first logon that installs cloudbase-init and the virtio guest tools from the media and signals the end of setup). The password is not in it: the agent writes it, encoded, where the text @STRATUS-ADMIN-PASS@ (and @STRATUS-AUTOLOGON-PASS@) stands.",
    }),
  ),
};

/** The install outputs, spread into the server's output schema. */
export const INSTALL_OUTPUTS = {
  installStatus: Type.Optional(
    Type.String({
      description:
        'With installMedia: INSTALLING (the installer runs from the install media) or INSTALLED (setup signalled its end; the media are detached and the server boots from its disk).',
    }),
  ),
};

/** Problems of the install fields, for the server's check. */
export function checkInstall(inputs: Readonly<Record<string, unknown>>): AttributeProblem[] {
  const out: AttributeProblem[] = [];
  const install = inputs.installMedia !== undefined;
  if (install && inputs.image !== undefined)
    out.push({
      path: ['installMedia'],
      message:
        'conflicts with image: a server boots an image, or installs from installMedia onto a blank disk',
    });
  if (!install && inputs.image === undefined && inputs.bootVolume === undefined)
    out.push({
      path: ['image'],
      message: 'is required (or bootVolume, to boot from a volume, or installMedia, to install from an ISO)',
    });
  if (install && inputs.adminPass === undefined)
    out.push({
      path: ['installMedia'],
      message: 'needs adminPass: the answer file sets the Administrator password from it',
    });
  if (!install)
    for (const k of ['driverMedia', 'unattend', 'answerFile', 'productKey'])
      if (inputs[k] !== undefined) out.push({ path: [k], message: 'needs installMedia' });
  // An answer file of the user's own must have the key's place when there is a key, and no place without one.
  if (install && typeof inputs.answerFile === 'string' && !isUnknown(inputs.productKey)) {
    const p = answerFileSecretsProblem(inputs.answerFile, {
      adminPass: '',
      ...(inputs.productKey !== undefined ? { productKey: String(inputs.productKey) } : {}),
    });
    if (p) out.push({ path: [inputs.productKey !== undefined ? 'productKey' : 'answerFile'], message: p });
  }
  const u = inputs.unattend as Record<string, unknown> | undefined;
  if (u && typeof u === 'object' && !isUnknown(u)) {
    if (typeof u.timeZone === 'string') {
      const p = timeZoneProblem(u.timeZone);
      if (p) out.push({ path: ['unattend', 'timeZone'], message: p });
    }
    if (u.driverOs !== undefined && inputs.driverMedia === undefined)
      out.push({ path: ['unattend', 'driverOs'], message: 'needs driverMedia (the ISO the drivers are on)' });
  }
  return out;
}

/**
 * Fills `answerFile` of a server with installMedia: kept from the prior state once made (the install
 * happened with it; a new name must not reinstall), else generated; UNKNOWN while a value it needs is.
 */
export function planInstall(
  planned: Record<string, unknown>,
  prior?: Readonly<Record<string, unknown>> | null,
): void {
  if (planned.installMedia === undefined || planned.answerFile !== undefined) return;
  if (
    prior &&
    typeof prior.answerFile === 'string' &&
    prior.installMedia === planned.installMedia &&
    // A key added or removed (a replace) needs a file with, or without, its place.
    !isUnknown(planned.productKey) &&
    prior.answerFile.includes(PRODUCT_KEY_PLACEHOLDER) === (planned.productKey !== undefined)
  ) {
    planned.answerFile = prior.answerFile;
    return;
  }
  const u = (planned.unattend ?? {}) as Record<string, unknown>;
  const needed = [
    planned.hostname,
    planned.name,
    planned.firmware,
    u,
    u.locale,
    u.keyboard,
    u.timeZone,
    u.imageName,
    u.driverOs,
    planned.productKey,
  ];
  if (needed.some(isUnknown)) {
    planned.answerFile = UNKNOWN;
    return;
  }
  const hostname =
    typeof planned.hostname === 'string'
      ? planned.hostname
      : typeof planned.name === 'string'
        ? hostnameFromName(planned.name)
        : '';
  planned.answerFile = renderAnswerFile({
    computerName: computerNameFor(hostname),
    locale: (u.locale as string | undefined) ?? DEFAULT_INSTALL_LOCALE,
    ...(u.keyboard !== undefined ? { keyboard: u.keyboard as string } : {}),
    timeZone: (u.timeZone as string | undefined) ?? DEFAULT_INSTALL_TIME_ZONE,
    firmware: planned.firmware === 'uefi' ? 'uefi' : 'bios',
    ...(u.imageName !== undefined ? { imageName: u.imageName as string } : {}),
    ...(u.driverOs !== undefined ? { driverOs: u.driverOs as string } : {}),
    ...(planned.productKey !== undefined ? { productKey: true } : {}),
  });
}
