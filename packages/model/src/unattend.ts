/**
 * The Windows Setup answer file (`Autounattend.xml`) of a server installed from an ISO (`installMedia`),
 * and the first-logon script that goes beside it on the answer medium. Both are pure text built from the
 * server's inputs, so the plan shows them; the administrator password is never in them: the answer file
 * holds {@link ADMIN_PASS_PLACEHOLDER} where the password goes, and only the agent, writing the answer
 * medium, puts the (encoded) password there.
 *
 * Structure as Microsoft documents it ("Unattended Windows Setup Reference": the configuration passes
 * windowsPE, specialize and oobeSystem; components Microsoft-Windows-International-Core-WinPE,
 * Microsoft-Windows-Setup, Microsoft-Windows-PnpCustomizationsWinPE, Microsoft-Windows-Shell-Setup,
 * Microsoft-Windows-International-Core; every component of an amd64 image carries
 * processorArchitecture="amd64", publicKeyToken="31bf3856ad364e35", language="neutral",
 * versionScope="nonSxS"). Pure: no Node-only APIs.
 */

/** Text in the answer file where the agent writes the encoded administrator password. */
export const ADMIN_PASS_PLACEHOLDER = '@STRATUS-ADMIN-PASS@';

/** Text in the answer file where the agent writes the encoded auto-logon password (the same password). */
export const AUTOLOGON_PASS_PLACEHOLDER = '@STRATUS-AUTOLOGON-PASS@';

/**
 * Text in the answer file where the agent writes the product key (`productKey` of the server): the key is
 * sensitive, so the plan shows only where it goes.
 */
export const PRODUCT_KEY_PLACEHOLDER = '@STRATUS-PRODUCT-KEY@';

/** A Windows product key: five groups of five letters or digits (`XXXXX-XXXXX-XXXXX-XXXXX-XXXXX`). */
export const PRODUCT_KEY_PATTERN = '^[A-Za-z0-9]{5}(-[A-Za-z0-9]{5}){4}$';

/** The line the guest writes on its first serial port (COM1) when setup has finished. */
export const INSTALL_COMPLETE_MARKER = 'STRATUS-INSTALL-COMPLETE';

/** Name of the answer file at the root of the answer medium (Windows Setup's implicit search finds it there). */
export const ANSWER_FILE_NAME = 'Autounattend.xml';

/** Path (from the answer medium's root) of the script the first logon runs. */
export const FIRST_LOGON_SCRIPT = 'stratus/firstlogon.cmd';

/** Volume label of the answer medium. */
export const ANSWER_MEDIUM_LABEL = 'STRATUS-UNATTEND';

/** Longest Windows computer name: NetBIOS names have 15 characters (Microsoft: "Naming conventions in Active Directory"). */
export const MAX_COMPUTER_NAME_LENGTH = 15;

/** The virtio-win driver folders the installer loads (disk, SCSI, NIC, balloon, serial, RNG). */
export const VIRTIO_DRIVERS = ['viostor', 'vioscsi', 'NetKVM', 'Balloon', 'vioserial', 'viorng'] as const;

/**
 * Drive letters the media may get. Windows PE gives CD-ROMs letters in the order it finds them, which
 * depends on the bus; the driver paths and the first-logon command try each (a path that does not exist
 * is skipped by Setup).
 */
export const MEDIA_DRIVE_LETTERS = ['D', 'E', 'F', 'G'] as const;

const COMPONENT_ATTRS =
  'processorArchitecture="amd64" publicKeyToken="31bf3856ad364e35" language="neutral" versionScope="nonSxS"';

/** What the answer file is made of: the server's inputs, resolved. */
export interface AnswerFileOptions {
  /** Computer name, already NetBIOS-safe (see {@link computerNameFor}); `*` lets Windows choose one. */
  computerName: string;
  /** Language and locale (`en-US`): UI language, system, user and input locale. */
  locale: string;
  /** Keyboard layout (input locale), e.g. `en-US` or `0409:00000409`; default the locale. */
  keyboard?: string;
  /** Windows time zone id (`UTC`, `W. Europe Standard Time`). */
  timeZone: string;
  /** Boot firmware: `uefi` gets a GPT layout (EFI, MSR, Windows), `bios` an MBR one (System Reserved, Windows). */
  firmware: 'bios' | 'uefi';
  /** Image in install.wim to install, by name (`/IMAGE/NAME`); default the first (`/IMAGE/INDEX` 1). */
  imageName?: string;
  /** virtio-win folder of the Windows version (`w11`, `w10`, `2k22`, `2k19`, `2k25`); no driver paths without it. */
  driverOs?: string;
  /** Registered owner shown by Windows. */
  fullName?: string;
  /**
   * Whether Setup gets a product key: then windowsPE's Microsoft-Windows-Setup carries
   * `UserData/ProductKey/Key` with {@link PRODUCT_KEY_PLACEHOLDER}, which the agent replaces by the key.
   * Without one, Setup installs the edition named by `imageName` (media that need a key then ask for it).
   */
  productKey?: boolean;
}

const XML_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&apos;',
};
const esc = (s: string) => s.replace(/[&<>"']/g, (c) => XML_ESCAPES[c]!);

/**
 * The Windows computer name of a guest host name: the first 15 characters (NetBIOS), upper-cased, without
 * a trailing hyphen; `*` (Windows picks a random name) when nothing is left or only digits are (Windows
 * refuses all-digit names).
 */
export function computerNameFor(hostname: string): string {
  const n = hostname
    .toUpperCase()
    .replace(/[^A-Z0-9-]+/g, '-')
    .slice(0, MAX_COMPUTER_NAME_LENGTH)
    .replace(/^-+|-+$/g, '');
  return n === '' || /^[0-9]+$/.test(n) ? '*' : n;
}

/** Why `s` is not a Windows time zone id Stratus writes into the answer file, or undefined. */
export function timeZoneProblem(s: string): string | undefined {
  return /^[A-Za-z0-9][A-Za-z0-9 .+()_-]{0,63}$/.test(s)
    ? undefined
    : 'is not a Windows time zone id (e.g. "UTC", "W. Europe Standard Time"; see `tzutil /l`)';
}

function diskConfiguration(firmware: 'bios' | 'uefi', add: (d: number, s: string) => void, d: number) {
  // Layouts as Microsoft recommends them ("UEFI/GPT-based hard drive partitions", "BIOS/MBR-based hard
  // drive partitions"): the last partition takes the rest of the disk.
  const parts =
    firmware === 'uefi'
      ? [
          { type: 'EFI', size: 300, format: 'FAT32', label: 'System' },
          { type: 'MSR', size: 16 },
          { type: 'Primary', format: 'NTFS', label: 'Windows', letter: 'C' },
        ]
      : [
          { type: 'Primary', size: 500, format: 'NTFS', label: 'System Reserved', active: true },
          { type: 'Primary', format: 'NTFS', label: 'Windows', letter: 'C' },
        ];
  add(d, '<DiskConfiguration>');
  add(d + 1, '<Disk wcm:action="add">');
  add(d + 2, '<DiskID>0</DiskID>');
  add(d + 2, '<WillWipeDisk>true</WillWipeDisk>');
  add(d + 2, '<CreatePartitions>');
  parts.forEach((p, i) => {
    add(d + 3, '<CreatePartition wcm:action="add">');
    add(d + 4, `<Order>${i + 1}</Order>`);
    add(d + 4, `<Type>${p.type}</Type>`);
    add(d + 4, p.size === undefined ? '<Extend>true</Extend>' : `<Size>${p.size}</Size>`);
    add(d + 3, '</CreatePartition>');
  });
  add(d + 2, '</CreatePartitions>');
  add(d + 2, '<ModifyPartitions>');
  parts.forEach((p, i) => {
    if (!('format' in p)) return;
    add(d + 3, '<ModifyPartition wcm:action="add">');
    add(d + 4, `<Order>${i + 1}</Order>`);
    add(d + 4, `<PartitionID>${i + 1}</PartitionID>`);
    add(d + 4, `<Format>${p.format}</Format>`);
    add(d + 4, `<Label>${esc(p.label!)}</Label>`);
    if ('letter' in p) add(d + 4, `<Letter>${p.letter}</Letter>`);
    if ('active' in p) add(d + 4, '<Active>true</Active>');
    add(d + 3, '</ModifyPartition>');
  });
  add(d + 2, '</ModifyPartitions>');
  add(d + 1, '</Disk>');
  add(d, '</DiskConfiguration>');
  return parts.length;
}

/**
 * The answer file: windowsPE (languages, disk layout, image, EULA, drivers from the driver media),
 * specialize (computer name, time zone) and oobeSystem (locales, OOBE pages skipped, the Administrator's
 * password, one automatic logon that runs the first-logon script from the answer medium).
 */
export function renderAnswerFile(o: AnswerFileOptions): string {
  const lines: string[] = [];
  const add = (d: number, s: string) => lines.push(`${'  '.repeat(d)}${s}`);
  const component = (d: number, name: string) => add(d, `<component name="${name}" ${COMPONENT_ATTRS}>`);
  const keyboard = o.keyboard ?? o.locale;
  const locale = esc(o.locale);

  add(0, '<?xml version="1.0" encoding="utf-8"?>');
  add(
    0,
    '<unattend xmlns="urn:schemas-microsoft-com:unattend" xmlns:wcm="http://schemas.microsoft.com/WMIConfig/2002/State">',
  );

  add(1, '<settings pass="windowsPE">');
  component(2, 'Microsoft-Windows-International-Core-WinPE');
  add(3, '<SetupUILanguage>');
  add(4, `<UILanguage>${locale}</UILanguage>`);
  add(3, '</SetupUILanguage>');
  add(3, `<InputLocale>${esc(keyboard)}</InputLocale>`);
  add(3, `<SystemLocale>${locale}</SystemLocale>`);
  add(3, `<UILanguage>${locale}</UILanguage>`);
  add(3, `<UserLocale>${locale}</UserLocale>`);
  add(2, '</component>');
  if (o.driverOs !== undefined) {
    component(2, 'Microsoft-Windows-PnpCustomizationsWinPE');
    add(3, '<DriverPaths>');
    let key = 0;
    for (const letter of MEDIA_DRIVE_LETTERS)
      for (const drv of VIRTIO_DRIVERS) {
        key += 1;
        add(4, `<PathAndCredentials wcm:action="add" wcm:keyValue="${key}">`);
        add(5, `<Path>${letter}:\\${drv}\\${esc(o.driverOs)}\\amd64</Path>`);
        add(4, '</PathAndCredentials>');
      }
    add(3, '</DriverPaths>');
    add(2, '</component>');
  }
  component(2, 'Microsoft-Windows-Setup');
  const partitions = diskConfiguration(o.firmware, add, 3);
  add(3, '<ImageInstall>');
  add(4, '<OSImage>');
  add(5, '<InstallFrom>');
  add(6, '<MetaData wcm:action="add">');
  if (o.imageName !== undefined) {
    add(7, '<Key>/IMAGE/NAME</Key>');
    add(7, `<Value>${esc(o.imageName)}</Value>`);
  } else {
    add(7, '<Key>/IMAGE/INDEX</Key>');
    add(7, '<Value>1</Value>');
  }
  add(6, '</MetaData>');
  add(5, '</InstallFrom>');
  add(5, '<InstallTo>');
  add(6, '<DiskID>0</DiskID>');
  add(6, `<PartitionID>${partitions}</PartitionID>`);
  add(5, '</InstallTo>');
  add(5, '<WillShowUI>OnError</WillShowUI>');
  add(4, '</OSImage>');
  add(3, '</ImageInstall>');
  add(3, '<UserData>');
  add(4, '<AcceptEula>true</AcceptEula>');
  add(4, `<FullName>${esc(o.fullName ?? 'Stratus')}</FullName>`);
  add(4, '<Organization>Stratus</Organization>');
  if (o.productKey) {
    // "Microsoft-Windows-Setup | UserData | ProductKey": Key, and WillShowUI OnError (the key page only
    // when the key does not fit the edition).
    add(4, '<ProductKey>');
    add(5, `<Key>${PRODUCT_KEY_PLACEHOLDER}</Key>`);
    add(5, '<WillShowUI>OnError</WillShowUI>');
    add(4, '</ProductKey>');
  }
  add(3, '</UserData>');
  add(2, '</component>');
  add(1, '</settings>');

  add(1, '<settings pass="specialize">');
  component(2, 'Microsoft-Windows-Shell-Setup');
  add(3, `<ComputerName>${esc(o.computerName)}</ComputerName>`);
  add(3, `<TimeZone>${esc(o.timeZone)}</TimeZone>`);
  add(2, '</component>');
  add(1, '</settings>');

  add(1, '<settings pass="oobeSystem">');
  component(2, 'Microsoft-Windows-International-Core');
  add(3, `<InputLocale>${esc(keyboard)}</InputLocale>`);
  add(3, `<SystemLocale>${locale}</SystemLocale>`);
  add(3, `<UILanguage>${locale}</UILanguage>`);
  add(3, `<UserLocale>${locale}</UserLocale>`);
  add(2, '</component>');
  component(2, 'Microsoft-Windows-Shell-Setup');
  add(3, '<OOBE>');
  add(4, '<HideEULAPage>true</HideEULAPage>');
  add(4, '<HideLocalAccountScreen>true</HideLocalAccountScreen>');
  add(4, '<HideOEMRegistrationScreen>true</HideOEMRegistrationScreen>');
  add(4, '<HideOnlineAccountScreens>true</HideOnlineAccountScreens>');
  add(4, '<HideWirelessSetupInOOBE>true</HideWirelessSetupInOOBE>');
  add(4, '<ProtectYourPC>3</ProtectYourPC>');
  add(3, '</OOBE>');
  add(3, '<UserAccounts>');
  add(4, '<AdministratorPassword>');
  add(5, `<Value>${ADMIN_PASS_PLACEHOLDER}</Value>`);
  add(5, '<PlainText>false</PlainText>');
  add(4, '</AdministratorPassword>');
  add(3, '</UserAccounts>');
  add(3, '<AutoLogon>');
  add(4, '<Enabled>true</Enabled>');
  add(4, '<LogonCount>1</LogonCount>');
  add(4, '<Username>Administrator</Username>');
  add(4, '<Password>');
  add(5, `<Value>${AUTOLOGON_PASS_PLACEHOLDER}</Value>`);
  add(5, '<PlainText>false</PlainText>');
  add(4, '</Password>');
  add(3, '</AutoLogon>');
  add(3, '<FirstLogonCommands>');
  add(4, '<SynchronousCommand wcm:action="add">');
  add(5, '<Order>1</Order>');
  add(5, '<Description>Stratus: drivers, cloudbase-init, setup-complete signal</Description>');
  const script = FIRST_LOGON_SCRIPT.replaceAll('/', '\\');
  const letters = MEDIA_DRIVE_LETTERS.join(' ');
  add(
    5,
    `<CommandLine>cmd.exe /c "for %d in (${letters}) do @if exist %d:\\${script} call %d:\\${script} %d:"</CommandLine>`,
  );
  add(4, '</SynchronousCommand>');
  add(3, '</FirstLogonCommands>');
  add(3, `<TimeZone>${esc(o.timeZone)}</TimeZone>`);
  add(2, '</component>');
  add(1, '</settings>');
  add(0, '</unattend>');
  return `${lines.join('\r\n')}\r\n`;
}

/**
 * The script the first logon runs from the answer medium (its drive letter is the first argument):
 * installs the virtio-win guest tools and cloudbase-init (`CloudbaseInitSetup_x64.msi`) when a medium
 * holds them at its root, writes {@link INSTALL_COMPLETE_MARKER} on COM1 and shuts the guest down; the
 * agent then detaches the install media and boots the server from its disk.
 */
export function renderFirstLogonScript(): string {
  const letters = MEDIA_DRIVE_LETTERS.join(' ');
  return [
    '@echo off',
    'rem Stratus first-logon script: runs once, as Administrator, after Windows Setup.',
    'set LOG=C:\\Windows\\Temp\\stratus-firstlogon.log',
    'echo Stratus first logon from %1 > %LOG%',
    `for %%d in (${letters}) do if exist %%d:\\virtio-win-guest-tools.exe if not defined STRATUS_TOOLS (`,
    '  set STRATUS_TOOLS=1',
    '  echo installing %%d:\\virtio-win-guest-tools.exe >> %LOG%',
    '  start /wait "" %%d:\\virtio-win-guest-tools.exe /install /quiet /norestart',
    ')',
    `for %%d in (${letters}) do if exist %%d:\\CloudbaseInitSetup_x64.msi if not defined STRATUS_CBI (`,
    '  set STRATUS_CBI=1',
    '  echo installing %%d:\\CloudbaseInitSetup_x64.msi >> %LOG%',
    '  msiexec /i %%d:\\CloudbaseInitSetup_x64.msi /qn /norestart /l*v C:\\Windows\\Temp\\cloudbase-init-install.log LOGGINGSERIALPORTNAME=COM1 RUN_SERVICE_AS_LOCAL_SYSTEM=1',
    ')',
    'rem The agent watches the serial console for this line, then detaches the install media.',
    'mode COM1: BAUD=115200 PARITY=N DATA=8 STOP=1 >> %LOG%',
    `echo ${INSTALL_COMPLETE_MARKER}>COM1`,
    'shutdown /s /t 5 /c "Stratus: setup complete"',
    '',
  ].join('\r\n');
}

/**
 * The encoding Windows Setup reads for a password with `<PlainText>false</PlainText>`: base64 of the
 * UTF-16LE text of the password followed by the element name (`AdministratorPassword` or `Password`),
 * as Windows System Image Manager writes it. An obfuscation that keeps the password out of plain sight,
 * not encryption.
 */
export function encodeUnattendPassword(
  password: string,
  element: 'AdministratorPassword' | 'Password',
): string {
  const text = password + element;
  const bytes = new Uint8Array(text.length * 2);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    bytes[2 * i] = c & 0xff;
    bytes[2 * i + 1] = c >> 8;
  }
  return base64(bytes);
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** RFC 4648 base64 with padding (the model is pure: no Buffer, no btoa in its library types). */
function base64(b: Uint8Array): string {
  let out = '';
  for (let i = 0; i < b.length; i += 3) {
    const n = (b[i]! << 16) | ((b[i + 1] ?? 0) << 8) | (b[i + 2] ?? 0);
    out += B64[(n >> 18) & 63]! + B64[(n >> 12) & 63]!;
    out += i + 1 < b.length ? B64[(n >> 6) & 63]! : '=';
    out += i + 2 < b.length ? B64[n & 63]! : '=';
  }
  return out;
}

/** The answer file with the password in its two password elements (what the answer medium holds). */
export function withPassword(answerFile: string, password: string): string {
  return answerFile
    .replace(ADMIN_PASS_PLACEHOLDER, encodeUnattendPassword(password, 'AdministratorPassword'))
    .replace(AUTOLOGON_PASS_PLACEHOLDER, encodeUnattendPassword(password, 'Password'));
}

/** The secrets the agent writes into an answer file: the administrator password and the product key. */
export interface AnswerFileSecrets {
  adminPass: string;
  /** Checked against {@link PRODUCT_KEY_PATTERN} by the schema, so it needs no XML escaping. */
  productKey?: string;
}

/**
 * Why the answer file and the secrets do not fit, or undefined: a product key placeholder without a key
 * (Setup would read the placeholder as the key), or a key with no placeholder to take it.
 */
export function answerFileSecretsProblem(answerFile: string, s: AnswerFileSecrets): string | undefined {
  const slot = answerFile.includes(PRODUCT_KEY_PLACEHOLDER);
  if (slot && s.productKey === undefined)
    return `the answer file has ${PRODUCT_KEY_PLACEHOLDER} but the server has no productKey`;
  if (!slot && s.productKey !== undefined)
    return `the server has a productKey, but the answer file has no ${PRODUCT_KEY_PLACEHOLDER} where it goes (UserData/ProductKey/Key)`;
  return undefined;
}

/**
 * What the answer medium holds: the answer file with the encoded password in its password elements and
 * the product key in its `ProductKey/Key` (see {@link answerFileSecretsProblem} for what must fit).
 */
export function withSecrets(answerFile: string, s: AnswerFileSecrets): string {
  const file = withPassword(answerFile, s.adminPass);
  return s.productKey === undefined ? file : file.replace(PRODUCT_KEY_PLACEHOLDER, s.productKey);
}
