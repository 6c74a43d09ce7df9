/**
 * The test guest's udhcpc hook (scripts/guest/udhcpc.script) with the guest's own tools: busybox's sh,
 * ip, awk and grep, in a namespace this test creates (a veth `eth0` there, its peer beside it), under a
 * private mount namespace whose /run and /etc/resolv.conf are scratch copies, so the host's are never
 * written. Checks what a lease leaves: the address, the default route and the metadata route from
 * option 121 (RFC 3442: the router option is then ignored), the router option alone without it, and
 * that a renewal changes nothing. The default route from option 121 once went missing because busybox
 * `ip route show default` lists every route; guests then answered only on-link peers (issue 11).
 * Needs root, iproute2, util-linux unshare and busybox.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

const BUSYBOX = '/bin/busybox';
const HOOK = new URL('../scripts/guest/udhcpc.script', import.meta.url).pathname;

function whyskip(): string | false {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return 'needs root on Linux';
  for (const bin of ['/usr/sbin/ip', '/usr/bin/unshare', BUSYBOX])
    if (!existsSync(bin)) return `needs ${bin}`;
  return false;
}

function must(cmd: string, args: string[], env?: Record<string, string>): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...(env ? { env } : {}) });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')}: ${r.stdout}${r.stderr}`);
  assert.equal(r.stderr, '', `${cmd} ${args.join(' ')} wrote to stderr`);
  return r.stdout;
}

test('guest udhcpc hook: option 121 gives the default and metadata routes; router alone; renew idempotent', {
  skip: whyskip(),
}, () => {
  const ns = `stratus-udhcpc-${randomBytes(3).toString('hex')}`;
  const bin = mkdtempSync(join(tmpdir(), 'stratus-udhcpc-bin-'));
  try {
    // The guest's userland: busybox applets only.
    for (const a of ['sh', 'ip', 'awk', 'grep', 'cat', 'mkdir', 'rm', 'mount'])
      symlinkSync(BUSYBOX, join(bin, a));
    must('ip', ['netns', 'add', ns]);
    must('ip', ['-n', ns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'peer0']);
    must('ip', ['-n', ns, 'link', 'set', 'peer0', 'up']);
    const hook = (event: string, lease: Record<string, string>) =>
      must(
        '/usr/sbin/ip',
        [
          'netns',
          'exec',
          ns,
          '/usr/bin/unshare',
          '-m',
          BUSYBOX,
          'sh',
          '-c',
          'mount -t tmpfs scratch /run && : >/run/resolv.conf && mount --bind /run/resolv.conf /etc/resolv.conf && exec sh "$0" "$1"',
          HOOK,
          event,
        ],
        { PATH: bin, interface: 'eth0', ...lease },
      );
    const routes = () =>
      (JSON.parse(must('ip', ['-n', ns, '-j', '-4', 'route', 'show'])) as { dst: string; gateway?: string }[])
        .map((r) => `${r.dst}${r.gateway ? ` via ${r.gateway}` : ''}`)
        .sort();

    const withOption121 = {
      ip: '10.91.0.3',
      mask: '24',
      router: '10.91.0.1',
      staticroutes: '169.254.169.254/32 10.91.0.2 0.0.0.0/0 10.91.0.1',
    };
    hook('deconfig', {});
    hook('bound', withOption121);
    const expected = ['10.91.0.0/24', '169.254.169.254 via 10.91.0.2', 'default via 10.91.0.1'];
    assert.deepEqual(routes(), expected);
    hook('renew', withOption121);
    assert.deepEqual(routes(), expected, 'a renewal changes nothing');

    // Without option 121 the router option gives the default route.
    hook('deconfig', {});
    must('ip', ['-n', ns, 'route', 'flush', 'dev', 'eth0']);
    hook('bound', { ip: '10.91.0.3', mask: '24', router: '10.91.0.9' });
    assert.deepEqual(routes(), ['10.91.0.0/24', 'default via 10.91.0.9']);
  } finally {
    spawnSync('ip', ['netns', 'delete', ns]);
    rmSync(bin, { recursive: true, force: true });
  }
});
