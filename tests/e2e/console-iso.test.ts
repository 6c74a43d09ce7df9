/**
 * An ISO image boots a server as a CD-ROM, and the server's consoles work (issue 12, Deliver 3 and 4).
 * One guest: a bootable ISO (isolinux + the busybox test guest's kernel and initramfs, built here with
 * xorriso) downloaded by the agent from a loopback HTTP server this test starts. Then:
 * `stratus console web` prints its serial log; `stratus console web --interactive`, driven in tmux, gets
 * a shell prompt and runs a command; `stratus console web --vnc` prints a noVNC URL that headless
 * Chromium (Debian's chromium, driven by playwright-core) opens, and the guest's screen is on the page
 * (pixel variance, not black, not an error page); a wrong or expired token is refused.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { chromium } from 'playwright-core';
import { runCli } from '../../packages/sdk/src/cli/testing.js';
import { type AgentEnv, agentEnv, CLI, IMAGE, run, stateIds, waitForReady } from './helpers.js';

let t: AgentEnv;
let http: Server;
let stack: string;
let state: string;
let serverId: string;
const tmuxSession = `stratus-console-${process.pid}`;

const ok = (r: { code: number; stdout: string; stderr: string }) =>
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
const cli = (...args: string[]) => runCli(args, { cwd: t.dir, env: t.env });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Builds a BIOS-bootable ISO holding the test guest's kernel and initramfs (isolinux, xorriso). */
async function buildIso(dir: string): Promise<string> {
  const raw = join(dir, 'guest.raw');
  ok(await run('qemu-img', ['convert', '-q', '-f', 'qcow2', '-O', 'raw', IMAGE, raw]));
  const table = JSON.parse((await run('sfdisk', ['-J', raw])).stdout);
  const offset = table.partitiontable.partitions[0].start * 512;
  const tree = join(dir, 'iso');
  mkdirSync(join(tree, 'isolinux'), { recursive: true });
  ok(await run('mcopy', ['-o', '-i', `${raw}@@${offset}`, '::/vmlinuz', '::/initrd.img', tree]));
  ok(
    await run('cp', [
      '/usr/lib/ISOLINUX/isolinux.bin',
      '/usr/lib/syslinux/modules/bios/ldlinux.c32',
      join(tree, 'isolinux'),
    ]),
  );
  writeFileSync(
    join(tree, 'isolinux', 'isolinux.cfg'),
    'SERIAL 0 115200\nDEFAULT live\nPROMPT 0\nLABEL live\n  KERNEL /vmlinuz\n  APPEND initrd=/initrd.img console=tty0 console=ttyS0,115200n8\n',
  );
  const iso = join(dir, 'www', 'live.iso');
  mkdirSync(join(dir, 'www'));
  ok(
    await run('xorriso', [
      '-as',
      'mkisofs',
      '-quiet',
      '-o',
      iso,
      '-V',
      'STRATUS-LIVE',
      '-b',
      'isolinux/isolinux.bin',
      '-c',
      'isolinux/boot.cat',
      '-no-emul-boot',
      '-boot-load-size',
      '4',
      '-boot-info-table',
      tree,
    ]),
  );
  return iso;
}

/** Brightness mean and variance of the noVNC canvas (the guest's screen), computed in the page. */
const SCREEN_STATS = `(() => {
  const c = document.querySelector('canvas');
  if (!c || c.width === 0) return { variance: 0, mean: 0, width: 0 };
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let sum = 0, sq = 0;
  const n = d.length / 4;
  for (let i = 0; i < d.length; i += 4) {
    const y = (d[i] + d[i + 1] + d[i + 2]) / 3;
    sum += y;
    sq += y * y;
  }
  const mean = sum / n;
  return { variance: sq / n - mean * mean, mean, width: c.width };
})()`;

before(async () => {
  t = agentEnv('console');
  const iso = await buildIso(t.dir);
  const data = readFileSync(iso);
  http = createServer((req, res) => {
    if (req.url !== '/live.iso') return void res.writeHead(404).end();
    res.writeHead(200, { 'content-length': data.length }).end(data);
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}/live.iso`;
  await t.startAgent();
  stack = join(t.dir, 'stack.yaml');
  state = join(t.dir, 'stratus.state.json');
  writeFileSync(
    stack,
    [
      'name: console',
      'resources:',
      '  live:',
      '    type: image',
      `    properties: { source: "${url}", diskFormat: iso }`,
      '  net:',
      '    type: network',
      '  subnet:',
      '    type: subnet',
      '    properties: { network: "${net}", cidr: 10.77.0.0/24 }',
      '  web:',
      '    type: server',
      '    properties:',
      '      image: ${live}',
      '      networks: [{ subnet: "${subnet}" }]',
      '',
    ].join('\n'),
  );
  ok(await cli('apply', '--auto-approve', '--state', state, stack));
  serverId = stateIds(state).find((r) => r.type === 'server')!.id;
  await waitForReady(join(t.stateDir, 'instances', serverId, 'console.log'));
});

after(async () => {
  spawnSync('tmux', ['kill-session', '-t', tmuxSession]);
  http?.close();
  if (t) await t.cleanup(existsSync(state ?? '') ? [state] : []);
});

test('an ISO image boots a server from a CD-ROM; its root disk starts blank', async () => {
  const xml = (await run('virsh', ['-c', 'qemu:///system', 'dumpxml', serverId])).stdout;
  const cdrom = /<disk type='file' device='cdrom'>[\s\S]*?<\/disk>/.exec(xml)?.[0];
  assert.ok(cdrom, xml);
  const imageId = stateIds(state).find((r) => r.type === 'image')!.id;
  assert.match(cdrom, new RegExp(`<source file='${join(t.stateDir, 'images', imageId)}'`));
  assert.match(cdrom, /<readonly\/>/);
  assert.match(cdrom, /<boot order='1'\/>/, 'the ISO boots first');
  const disk = join(t.stateDir, 'instances', serverId, 'disk.qcow2');
  const info = JSON.parse((await run('qemu-img', ['info', '-U', '--output=json', disk])).stdout);
  assert.equal(info['backing-filename'], undefined, 'a blank disk, not an overlay of the ISO');
  const img = JSON.parse(readFileSync(state, 'utf8')).resources.find(
    (r: { type: string }) => r.type === 'image',
  );
  assert.equal(img.attributes.diskFormat, 'iso');
  assert.equal(img.attributes.format, 'iso');
});

test('stratus console prints the serial log', async () => {
  const r = await cli('console', 'web', '-follow=false');
  ok(r);
  assert.match(r.stdout, /STRATUS-GUEST-READY hostname=web/);
  const unknown = await cli('console', 'nosuchserver', '-follow=false');
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /no server "nosuchserver"/);
});

test('stratus console --interactive gets a shell prompt on the serial console', async () => {
  const env = Object.entries(t.env).map(([k, v]) => `${k}=${v}`);
  // In a shell that stays after the CLI exits, so the screen still shows how it ended.
  const cmd = [
    'sh',
    '-c',
    '"$@"; echo "exit=$?"; exec sleep 3600',
    'sh',
    'env',
    ...env,
    process.execPath,
    CLI,
    'console',
    'web',
    '--interactive',
  ];
  ok(await run('tmux', ['new-session', '-d', '-s', tmuxSession, '-x', '160', '-y', '40', ...cmd]));
  const screen = async () => (await run('tmux', ['capture-pane', '-p', '-t', tmuxSession])).stdout;
  const waitFor = async (re: RegExp, what: string, poke?: () => Promise<unknown>) => {
    const deadline = Date.now() + 180_000;
    while (Date.now() < deadline) {
      if (re.test(await screen())) return;
      await poke?.();
      await sleep(1000);
    }
    assert.fail(`no ${what} on the screen:\n${await screen()}`);
  };
  await waitFor(/Connected to the serial console of server web/, 'connect message');
  // The shell has printed its prompt before we attached: Enter makes it print another.
  await waitFor(/[#$]\s*$/m, 'shell prompt', () => run('tmux', ['send-keys', '-t', tmuxSession, 'Enter']));
  ok(await run('tmux', ['send-keys', '-t', tmuxSession, 'echo "sum=$((40+2))"; hostname', 'Enter']));
  await waitFor(/^sum=42\s*$/m, 'command output');
  // hostname runs after echo: its line may arrive a moment later.
  await waitFor(/^web\s*$/m, 'hostname output');
  ok(await run('tmux', ['send-keys', '-t', tmuxSession, 'C-]']));
  await waitFor(/Detached\.[\s\S]*exit=0/, 'detach message and exit status 0');
});

test('stratus console --vnc: Chromium shows the guest screen through noVNC; bad tokens are refused', async () => {
  const r = await cli('console', 'web', '--vnc');
  ok(r);
  const url = r.stdout.trim();
  assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/vnc\/[A-Za-z0-9_-]+\/$/);
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
  try {
    const page = await browser.newPage({ viewport: { width: 1024, height: 800 } });
    await page.goto(url);
    await page.waitForSelector('body[data-state="connected"]', { timeout: 120_000 });
    // The guest's text console (kernel messages, the ready line, a prompt) on the VGA screen.
    let stats = { variance: 0, mean: 0, width: 0 };
    const deadline = Date.now() + 120_000;
    while (Date.now() < deadline) {
      // Run in the page (a string: this file is type-checked without the DOM library).
      stats = await page.evaluate<typeof stats>(SCREEN_STATS);
      if (stats.variance > 20) break;
      await sleep(1000);
    }
    // STRATUS_TEST_SCREENSHOT=FILE keeps the screenshot (the test's own directory is removed).
    const shot = process.env.STRATUS_TEST_SCREENSHOT ?? join(t.dir, 'vnc.png');
    await page.screenshot({ path: shot });
    process.stderr.write(`vnc screen: ${JSON.stringify(stats)} (screenshot ${shot})\n`);
    assert.ok(stats.width >= 640, `a guest-sized canvas: ${JSON.stringify(stats)}`);
    assert.ok(stats.variance > 20, `the guest's screen is not blank: ${JSON.stringify(stats)}`);
    assert.equal(await page.locator('#status').textContent(), 'connected');

    // A wrong token: refused, page and websocket alike.
    const origin = new URL(url).origin;
    const wrong = await fetch(`${origin}/vnc/${'A'.repeat(32)}/`);
    assert.equal(wrong.status, 403);
    assert.match(await wrong.text(), /not valid/);
    // An expired one: refused, saying so.
    const short = await cli('console', 'web', '--vnc', '--ttl', '1');
    ok(short);
    const shortUrl = short.stdout.trim();
    await sleep(1500);
    const expired = await fetch(shortUrl);
    assert.equal(expired.status, 403);
    assert.match(await expired.text(), /expired/);
    const p2 = await browser.newPage();
    await p2.goto(shortUrl);
    assert.match((await p2.textContent('body')) ?? '', /expired/);
  } finally {
    await browser.close();
  }
});
