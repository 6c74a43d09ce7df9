/**
 * The generated Autounattend.xml against the structure Windows Setup expects for amd64 (Microsoft's
 * "Unattended Windows Setup Reference"): passes, components and their attributes, the settings each
 * carries. Parsed by a strict little XML reader below (balanced tags, quoted attributes), so a file that
 * is not well formed fails here.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { validateResource } from './check.js';
import { attributes } from './resource.js';
import { server } from './resources/server.js';
import {
  ADMIN_PASS_PLACEHOLDER,
  AUTOLOGON_PASS_PLACEHOLDER,
  answerFileSecretsProblem,
  computerNameFor,
  encodeUnattendPassword,
  INSTALL_COMPLETE_MARKER,
  PRODUCT_KEY_PLACEHOLDER,
  renderAnswerFile,
  renderFirstLogonScript,
  withPassword,
  withSecrets,
} from './unattend.js';

interface Node {
  name: string;
  attrs: Record<string, string>;
  children: Node[];
  text: string;
}

/** Parses XML into a tree; throws on anything not well formed (mismatched or unclosed tags, bad attributes). */
function parse(xml: string): Node {
  const body = xml.replace(/^\uFEFF?<\?xml [^?]*\?>\s*/, '');
  const root: Node = { name: '#root', attrs: {}, children: [], text: '' };
  const stack: Node[] = [root];
  const re = /<(\/?)([A-Za-z_][\w.:-]*)((?:\s+[\w.:-]+="[^"<]*")*)\s*(\/?)>|([^<]+)|(<)/g;
  for (let m = re.exec(body); m; m = re.exec(body)) {
    const top = stack[stack.length - 1]!;
    if (m[6]) throw new Error(`stray < at ${m.index}`);
    if (m[5] !== undefined) {
      if (/&(?!(amp|lt|gt|quot|apos);)/.test(m[5])) throw new Error(`bad entity in ${m[5]}`);
      top.text += m[5];
      continue;
    }
    const [, close, name, rawAttrs, selfClose] = m;
    if (close) {
      if (top.name !== name) throw new Error(`</${name}> closes <${top.name}>`);
      stack.pop();
      continue;
    }
    const attrs: Record<string, string> = {};
    for (const a of rawAttrs!.matchAll(/([\w.:-]+)="([^"]*)"/g)) {
      if (a[1]! in attrs) throw new Error(`duplicate attribute ${a[1]}`);
      attrs[a[1]!] = a[2]!;
    }
    const node: Node = { name: name!, attrs, children: [], text: '' };
    top.children.push(node);
    if (!selfClose) stack.push(node);
  }
  if (stack.length !== 1) throw new Error(`unclosed <${stack[stack.length - 1]!.name}>`);
  if (root.children.length !== 1 || root.text.trim() !== '') throw new Error('not one root element');
  return root.children[0]!;
}

const kids = (n: Node, name: string) => n.children.filter((c) => c.name === name);
const kid = (n: Node, name: string) => {
  const k = kids(n, name);
  assert.equal(k.length, 1, `one <${name}> in <${n.name}>, found ${k.length}`);
  return k[0]!;
};
const at = (n: Node, ...path: string[]) => path.reduce(kid, n);
const pass = (doc: Node, p: string) => {
  const s = kids(doc, 'settings').filter((x) => x.attrs.pass === p);
  assert.equal(s.length, 1, `one settings pass ${p}`);
  return s[0]!;
};
const component = (settings: Node, name: string) => {
  const c = kids(settings, 'component').filter((x) => x.attrs.name === name);
  assert.equal(c.length, 1, `one component ${name} in ${settings.attrs.pass}`);
  return c[0]!;
};

const BASE = { computerName: 'WEB-01', locale: 'de-DE', timeZone: 'W. Europe Standard Time' } as const;

test('the answer file is well formed and has the passes and components Setup expects for amd64', () => {
  for (const firmware of ['uefi', 'bios'] as const) {
    const doc = parse(renderAnswerFile({ ...BASE, firmware, driverOs: 'w11' }));
    assert.equal(doc.name, 'unattend');
    assert.equal(doc.attrs.xmlns, 'urn:schemas-microsoft-com:unattend');
    assert.equal(doc.attrs['xmlns:wcm'], 'http://schemas.microsoft.com/WMIConfig/2002/State');
    assert.deepEqual(
      kids(doc, 'settings').map((s) => s.attrs.pass),
      ['windowsPE', 'specialize', 'oobeSystem'],
    );
    for (const s of kids(doc, 'settings'))
      for (const c of kids(s, 'component'))
        assert.deepEqual(
          { ...c.attrs, name: undefined },
          {
            name: undefined,
            processorArchitecture: 'amd64',
            publicKeyToken: '31bf3856ad364e35',
            language: 'neutral',
            versionScope: 'nonSxS',
          },
          `${s.attrs.pass}/${c.attrs.name}`,
        );

    const pe = pass(doc, 'windowsPE');
    const intl = component(pe, 'Microsoft-Windows-International-Core-WinPE');
    assert.equal(at(intl, 'SetupUILanguage', 'UILanguage').text, 'de-DE');
    assert.equal(at(intl, 'UserLocale').text, 'de-DE');
    const setup = component(pe, 'Microsoft-Windows-Setup');
    const disk = at(setup, 'DiskConfiguration', 'Disk');
    assert.equal(disk.attrs['wcm:action'], 'add');
    assert.equal(at(disk, 'DiskID').text, '0');
    assert.equal(at(disk, 'WillWipeDisk').text, 'true');
    const types = kids(at(disk, 'CreatePartitions'), 'CreatePartition').map((p) => at(p, 'Type').text);
    assert.deepEqual(types, firmware === 'uefi' ? ['EFI', 'MSR', 'Primary'] : ['Primary', 'Primary']);
    const modified = kids(at(disk, 'ModifyPartitions'), 'ModifyPartition');
    const windows = modified.find((p) => at(p, 'Label').text === 'Windows')!;
    assert.equal(at(windows, 'Letter').text, 'C');
    assert.equal(at(windows, 'Format').text, 'NTFS');
    if (firmware === 'uefi') assert.equal(at(modified[0]!, 'Format').text, 'FAT32');
    const os = at(setup, 'ImageInstall', 'OSImage');
    assert.equal(at(os, 'InstallTo', 'DiskID').text, '0');
    assert.equal(at(os, 'InstallTo', 'PartitionID').text, String(types.length));
    assert.equal(at(os, 'InstallFrom', 'MetaData', 'Key').text, '/IMAGE/INDEX');
    assert.equal(at(setup, 'UserData', 'AcceptEula').text, 'true');
    const paths = kids(
      at(component(pe, 'Microsoft-Windows-PnpCustomizationsWinPE'), 'DriverPaths'),
      'PathAndCredentials',
    );
    assert.ok(paths.some((p) => at(p, 'Path').text === 'E:\\viostor\\w11\\amd64'));
    assert.ok(paths.some((p) => at(p, 'Path').text === 'D:\\NetKVM\\w11\\amd64'));
    assert.equal(new Set(paths.map((p) => p.attrs['wcm:keyValue'])).size, paths.length, 'unique keys');

    const spec = component(pass(doc, 'specialize'), 'Microsoft-Windows-Shell-Setup');
    assert.equal(at(spec, 'ComputerName').text, 'WEB-01');
    assert.equal(at(spec, 'TimeZone').text, 'W. Europe Standard Time');

    const oobe = pass(doc, 'oobeSystem');
    component(oobe, 'Microsoft-Windows-International-Core');
    const shell = component(oobe, 'Microsoft-Windows-Shell-Setup');
    const admin = at(shell, 'UserAccounts', 'AdministratorPassword');
    assert.equal(at(admin, 'Value').text, ADMIN_PASS_PLACEHOLDER);
    assert.equal(at(admin, 'PlainText').text, 'false');
    assert.equal(at(shell, 'AutoLogon', 'Username').text, 'Administrator');
    assert.equal(at(shell, 'AutoLogon', 'Password', 'Value').text, AUTOLOGON_PASS_PLACEHOLDER);
    const cmds = kids(at(shell, 'FirstLogonCommands'), 'SynchronousCommand');
    assert.equal(cmds.length, 1);
    assert.equal(at(cmds[0]!, 'Order').text, '1');
    assert.match(at(cmds[0]!, 'CommandLine').text, /stratus\\firstlogon\.cmd/);
  }
});

test('an edition by name, no driver paths without driverOs, and user text is escaped', () => {
  const doc = parse(
    renderAnswerFile({
      ...BASE,
      firmware: 'uefi',
      imageName: 'Windows Server 2022 SERVERSTANDARD',
      timeZone: 'A&B',
    }),
  );
  const pe = pass(doc, 'windowsPE');
  assert.equal(
    kids(pe, 'component').filter((c) => (c.attrs.name ?? '').includes('PnpCustomizations')).length,
    0,
  );
  const md = at(
    component(pe, 'Microsoft-Windows-Setup'),
    'ImageInstall',
    'OSImage',
    'InstallFrom',
    'MetaData',
  );
  assert.equal(at(md, 'Key').text, '/IMAGE/NAME');
  assert.equal(at(md, 'Value').text, 'Windows Server 2022 SERVERSTANDARD');
  assert.equal(
    at(component(pass(doc, 'specialize'), 'Microsoft-Windows-Shell-Setup'), 'TimeZone').text,
    'A&amp;B',
  );
});

test('computer names are NetBIOS-safe: 15 characters, no all-digit names', () => {
  assert.equal(computerNameFor('web'), 'WEB');
  assert.equal(computerNameFor('a-very-long-host-name'), 'A-VERY-LONG-HOS');
  assert.equal(computerNameFor('win-e2e-server-1'), 'WIN-E2E-SERVER');
  assert.equal(computerNameFor('12345'), '*');
  assert.equal(computerNameFor(''), '*');
  for (const h of ['x', 'abc-def-ghi-jkl-mno-pqr', 'a1', 'server-1234567890abcdef'])
    assert.match(computerNameFor(h), /^(\*|[A-Z0-9]([A-Z0-9-]{0,13}[A-Z0-9])?)$/);
});

test('the password goes in only encoded, in its two password elements', () => {
  const password = 'S3cret&<Pass>';
  const file = withPassword(renderAnswerFile({ ...BASE, firmware: 'uefi' }), password);
  assert.ok(!file.includes(password), 'not in clear text');
  assert.ok(!file.includes(ADMIN_PASS_PLACEHOLDER) && !file.includes(AUTOLOGON_PASS_PLACEHOLDER));
  const doc = parse(file);
  const shell = component(pass(doc, 'oobeSystem'), 'Microsoft-Windows-Shell-Setup');
  const decode = (v: string) => Buffer.from(v, 'base64').toString('utf16le');
  assert.equal(
    decode(at(shell, 'UserAccounts', 'AdministratorPassword', 'Value').text),
    `${password}AdministratorPassword`,
  );
  assert.equal(decode(at(shell, 'AutoLogon', 'Password', 'Value').text), `${password}Password`);
  // What Windows System Image Manager writes for "Passw0rd" (base64 of UTF-16LE "Passw0rdPassword").
  assert.equal(
    encodeUnattendPassword('Passw0rd', 'Password'),
    Buffer.from('Passw0rdPassword', 'utf16le').toString('base64'),
  );
});

test('the first-logon script installs from the media and ends with the marker on COM1 and a shutdown', () => {
  const s = renderFirstLogonScript();
  assert.match(s, /CloudbaseInitSetup_x64\.msi/);
  assert.match(s, /virtio-win-guest-tools\.exe/);
  const lines = s.split('\r\n');
  const echo = lines.indexOf(`echo ${INSTALL_COMPLETE_MARKER}>COM1`);
  assert.ok(echo > 0);
  assert.match(lines[echo + 1]!, /^shutdown \/s /);
});

test('the server plan carries the answer file; checks refuse what cannot install', () => {
  const base = {
    name: 'Build Box 2024 Primary',
    installMedia: 'img-1',
    adminPass: 'Passw0rd!x',
    firmware: 'uefi',
    networks: [{ network: 'net-1' }],
  };
  const planned: Record<string, unknown> = { ...base };
  server.plan!(planned, null);
  const doc = parse(planned.answerFile as string);
  assert.equal(
    at(component(pass(doc, 'specialize'), 'Microsoft-Windows-Shell-Setup'), 'ComputerName').text,
    'BUILD-BOX-2024',
  );
  assert.ok(!(planned.answerFile as string).includes('Passw0rd!x'));
  // Kept once made: a new display name does not reinstall the server.
  const renamed: Record<string, unknown> = { ...base, name: 'other' };
  server.plan!(renamed, planned);
  assert.equal(renamed.answerFile, planned.answerFile);

  const problems = (inputs: Record<string, unknown>) =>
    validateResource('server', structuredClone(inputs)).map((p) => `${p.path.join('.')}: ${p.message}`);
  assert.deepEqual(problems({ ...base }), []);
  const { adminPass: _a, ...noPass } = base;
  assert.match(problems(noPass).join('\n'), /installMedia: needs adminPass/);
  assert.match(problems({ ...base, image: 'img-2' }).join('\n'), /installMedia: conflicts with image/);
  const { installMedia: _i, ...neither } = base;
  assert.match(
    problems(neither).join('\n'),
    /image: is required \(or bootVolume, to boot from a volume, or installMedia/,
  );
  assert.match(
    problems({ ...neither, image: 'x', driverMedia: 'd' }).join('\n'),
    /driverMedia: needs installMedia/,
  );
  assert.match(
    problems({ ...base, unattend: { driverOs: 'w11' } }).join('\n'),
    /unattend\.driverOs: needs driverMedia/,
  );
  assert.match(
    problems({ ...base, unattend: { timeZone: 'Bad<Zone>' } }).join('\n'),
    /unattend\.timeZone: is not a Windows time zone/,
  );
});

test('a product key: its place in windowsPE UserData/ProductKey/Key, the key itself only from withSecrets', () => {
  const key = 'AAAAA-BBBBB-CCCCC-DDDDD-EEEEE';
  const file = renderAnswerFile({ ...BASE, firmware: 'uefi', productKey: true });
  const setup = component(pass(parse(file), 'windowsPE'), 'Microsoft-Windows-Setup');
  assert.equal(at(setup, 'UserData', 'ProductKey', 'Key').text, PRODUCT_KEY_PLACEHOLDER);
  assert.equal(at(setup, 'UserData', 'ProductKey', 'WillShowUI').text, 'OnError');
  assert.equal(kids(at(setup, 'UserData'), 'ProductKey').length, 1);
  // Without a key there is no ProductKey element at all (Setup would take the placeholder as the key).
  const none = component(
    pass(parse(renderAnswerFile({ ...BASE, firmware: 'uefi' })), 'windowsPE'),
    'Microsoft-Windows-Setup',
  );
  assert.equal(kids(at(none, 'UserData'), 'ProductKey').length, 0);

  const written = withSecrets(file, { adminPass: 'Passw0rd!x', productKey: key });
  const wsetup = component(pass(parse(written), 'windowsPE'), 'Microsoft-Windows-Setup');
  assert.equal(at(wsetup, 'UserData', 'ProductKey', 'Key').text, key);
  assert.ok(!written.includes('Passw0rd!x') && !written.includes(ADMIN_PASS_PLACEHOLDER));
  assert.match(answerFileSecretsProblem(file, { adminPass: 'x' }) ?? '', /has no productKey/);
  assert.match(
    answerFileSecretsProblem(renderAnswerFile({ ...BASE, firmware: 'uefi' }), {
      adminPass: 'x',
      productKey: key,
    }) ?? '',
    /no @STRATUS-PRODUCT-KEY@/,
  );
  assert.equal(answerFileSecretsProblem(file, { adminPass: 'x', productKey: key }), undefined);
});

test('the server: productKey is sensitive, needs installMedia, and puts its place (not itself) in the planned answer file', () => {
  const key = 'AAAAA-BBBBB-CCCCC-DDDDD-EEEEE';
  const base = {
    name: 'keyed',
    installMedia: 'img-1',
    adminPass: 'Passw0rd!x',
    productKey: key,
    firmware: 'uefi',
    networks: [{ network: 'net-1' }],
  };
  assert.equal(attributes(server).find((a) => a.name === 'productKey')?.sensitive, true);
  const planned: Record<string, unknown> = { ...base };
  server.plan!(planned, null);
  assert.ok(!(planned.answerFile as string).includes(key));
  assert.ok((planned.answerFile as string).includes(PRODUCT_KEY_PLACEHOLDER));
  // A key added to a server whose prior file had no place for one gets a new file (the change replaces).
  const { productKey: _k, ...keyless } = base;
  const before: Record<string, unknown> = { ...keyless };
  server.plan!(before, null);
  const added: Record<string, unknown> = { ...base };
  server.plan!(added, before);
  assert.ok((added.answerFile as string).includes(PRODUCT_KEY_PLACEHOLDER));

  const problems = (inputs: Record<string, unknown>) =>
    validateResource('server', structuredClone(inputs)).map((p) => `${p.path.join('.')}: ${p.message}`);
  assert.deepEqual(problems(base), []);
  const bad = problems({ ...base, productKey: 'not-a-key' }).join('\n');
  assert.match(bad, /productKey: must be a Windows product key/);
  assert.ok(!bad.includes('not-a-key'), 'the value is not in the message');
  const { installMedia: _i, ...noMedia } = base;
  assert.match(problems({ ...noMedia, image: 'x' }).join('\n'), /productKey: needs installMedia/);
  assert.match(
    problems({ ...base, answerFile: renderAnswerFile({ ...BASE, firmware: 'uefi' }) }).join('\n'),
    /productKey: the server has a productKey, but the answer file has no @STRATUS-PRODUCT-KEY@/,
  );
});
