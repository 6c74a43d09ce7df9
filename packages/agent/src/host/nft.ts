/**
 * The `nft` command in the host's network namespace, and a watch of the host's nftables ruleset that
 * lets a reader of the whole ruleset skip reading it again while nothing changed.
 *
 * Reading the ruleset is the slow part of a refresh: nftables 1.0 builds its cache of every table on
 * the host for any listing (four hash tables of 8192 buckets each, about 0.5 MiB per table), and Stratus
 * has two tables per port, so each `nft -j list ruleset` costs more as the host fills (0.06 s with 21
 * tables, 0.25 s with 81 on this host, for `nft list tables`). {@link nftSnapshot} keeps a reading for as long as `nft monitor`
 * reports no change of the ruleset and this agent ran no `nft` command that may write; an
 * {@link NftLedger} keeps one through this agent's own writes too (its owner applies them), as long as
 * no other process commits (the monitor names the process behind each commit).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { dyingWithAgent, type ExecResult, type RunOptions, run } from './exec.js';
import { logger } from './log.js';

const log = logger('nft');

/**
 * The C library's allocator settings for `nft` (glibc tunables, see tunables(7) of glibc 2.36):
 * allocations up to 32 MiB come from the heap instead of mmap, and the heap is not trimmed below
 * 128 MiB. With glibc's default threshold (128 KiB) each of nftables' per-table hash tables is mapped,
 * faulted in and unmapped (a TLB flush each); on this paravirtualized host that made a `nft list tables`
 * with 81 tables take 0.25 s against 0.14 s with these settings (21 tables: 0.06 s against 0.04 s).
 * Nothing else changes in what nft does.
 */
const NFT_ENV = {
  GLIBC_TUNABLES: 'glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=134217728',
} as const;

/** nft arguments that only read: `list ...` (after options such as `-j`) and `--version` / `-v`. */
function readsOnly(args: readonly string[]): boolean {
  const first = args.find((a) => !a.startsWith('-'));
  return first === 'list' || args.includes('--version') || args.includes('-v');
}

/**
 * Runs `nft` in the host's network namespace with `args` (as {@link run}, with {@link NFT_ENV}). A command
 * that may write (anything but a listing) marks the ruleset changed for {@link nftSnapshot} once it ends,
 * whether it succeeded or not.
 * @throws ExecError when nft fails.
 */
export async function nft(args: readonly string[], opts: RunOptions = {}): Promise<ExecResult> {
  const writes = !readsOnly(args);
  try {
    return await run('nft', args, {
      ...opts,
      env: NFT_ENV,
      onSpawn: (pid) => {
        if (writes) watch.own(pid);
        opts.onSpawn?.(pid);
      },
    });
  } finally {
    if (writes) watch.changed();
  }
}

/** NETLINK_NETFILTER, the protocol column of /proc/net/netlink for nftables' sockets. */
const NETLINK_NETFILTER = '12';

/**
 * `nft monitor` as a child of the agent (killed with it, through the kernel's parent-death signal),
 * counting the ruleset changes it reports. It counts as watching only once its netlink socket has
 * joined nftables' event groups (/proc/net/netlink), so no change before that can be missed, and only
 * while that socket has dropped no event (the Drops column: a full receive buffer).
 */
class RulesetWatch {
  private child: ChildProcess | undefined;
  private subscribed = false;
  /** Changes seen since this agent started: monitor output, own writes, watch restarts. */
  private changes = 0;
  /**
   * Changes not made by this agent's own `nft` commands (the monitor's generation lines name the
   * process that committed each), and watch restarts (events may have been missed in between).
   */
  private foreign = 0;
  /** Process ids of this agent's recent `nft` commands that may write (the last {@link OWN_PIDS}). */
  private readonly ownPids = new Set<number>();
  /** Monitor output not yet ended by a newline. */
  private partial = '';
  private starting: Promise<void> | undefined;

  /** Counts a change this agent made (or may have made) to the ruleset. */
  changed(): void {
    this.changes++;
  }

  /** Notes that process `pid` is this agent's own nft command (its commits are not foreign). */
  own(pid: number): void {
    this.ownPids.add(pid);
    if (this.ownPids.size > OWN_PIDS) this.ownPids.delete(this.ownPids.values().next().value as number);
  }

  /** Counts the monitor's output: every chunk is a change; a commit by another process is foreign. */
  private saw(chunk: string): void {
    this.changes++;
    const lines = (this.partial + chunk).split('\n');
    this.partial = lines.pop() ?? '';
    for (const line of lines) {
      if (!line.startsWith('# new generation')) continue;
      const by = /by process (\d+)/.exec(line);
      if (!by || !this.ownPids.has(Number(by[1]))) this.foreign++;
    }
  }

  /**
   * A value that stays the same for as long as the ruleset does (`any`), or as long as no process but
   * this agent's own nft commands changed it (`foreign`); undefined when the watch cannot tell (not
   * started yet, not subscribed, dead, or it dropped events; it is restarted then).
   */
  async stamp(kind: 'any' | 'foreign' = 'any'): Promise<number | undefined> {
    if (!this.child) {
      this.starting ??= this.start().finally(() => {
        this.starting = undefined;
      });
      await this.starting;
    }
    if (!this.child || !this.subscribed) return undefined;
    const socket = await this.socket(this.child.pid!);
    if (socket === undefined || socket.drops > 0) {
      log.warn('nft monitor lost events or its socket; restarting it', { drops: socket?.drops });
      this.stop();
      return undefined;
    }
    return kind === 'any' ? this.changes : this.foreign;
  }

  /** The monitor's nftables netlink socket: whether it joined any event group, and events dropped. */
  private async socket(pid: number): Promise<{ joined: boolean; drops: number } | undefined> {
    // Columns: sk Eth Pid Groups Rmem Wmem Dump Locks Drops Inode.
    for (const line of (await readFile('/proc/net/netlink', 'utf8')).split('\n')) {
      const c = line.trim().split(/\s+/);
      if (c[1] === NETLINK_NETFILTER && c[2] === String(pid))
        return { joined: Number.parseInt(c[3]!, 16) !== 0, drops: Number(c[8]) };
    }
    return undefined;
  }

  /** Starts `nft monitor` and waits (up to 2 s) for its socket to join the event groups. */
  private async start(): Promise<void> {
    const child = spawn(...dyingWithAgent('nft', ['monitor']), {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...NFT_ENV },
    });
    this.child = child;
    this.subscribed = false;
    this.changes++;
    this.foreign++;
    this.partial = '';
    // Never keeps the agent (or a test process) alive; the kernel kills it when the agent goes.
    child.unref();
    for (const s of [child.stdout, child.stderr]) (s as unknown as { unref(): void }).unref();
    child.stdout.on('data', (b: Buffer) => this.saw(b.toString('utf8')));
    child.stderr.on('data', (b: Buffer) => {
      log.warn('nft monitor', { stderr: b.toString('utf8').trim().slice(0, 500) });
      this.changes++;
      this.foreign++;
    });
    const gone = () => {
      if (this.child === child) {
        this.child = undefined;
        this.subscribed = false;
        this.changes++;
        this.foreign++;
      }
    };
    child.on('error', (e) => {
      log.warn('nft monitor could not start; every reading goes to nft', { error: e.message });
      gone();
    });
    child.on('exit', gone);
    const deadline = Date.now() + 2_000;
    while (this.child === child && child.pid !== undefined && Date.now() < deadline) {
      if ((await this.socket(child.pid))?.joined) {
        this.subscribed = true;
        return;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    if (this.child === child) {
      log.warn('nft monitor did not subscribe in 2 s; every reading goes to nft');
      this.stop();
    }
  }

  /** Stops the monitor (it is started again by the next {@link stamp}). */
  stop(): void {
    const child = this.child;
    this.child = undefined;
    this.subscribed = false;
    this.changes++;
    this.foreign++;
    child?.kill('SIGKILL');
  }
}

/** How many of this agent's own nft process ids the watch remembers (far more than run at once). */
const OWN_PIDS = 256;

const watch = new RulesetWatch();

/**
 * A reading of the ruleset kept under the watch's stamp of kind `through`, and read again once that
 * stamp moved (or when the watch cannot tell). A reading that fails is not kept.
 */
class KeptReading<T> {
  protected kept: { stamp: number; value: Promise<T> } | undefined;

  /** @param read reads the ruleset into a fresh value (it may reject; nothing is kept then). */
  constructor(
    private readonly read: () => Promise<T>,
    private readonly through: 'any' | 'foreign',
  ) {}

  /** The kept value (the same object each time: copy it before changing it), or a new reading. */
  async get(): Promise<T> {
    const stamp = await watch.stamp(this.through);
    if (stamp !== undefined && this.kept?.stamp === stamp) return this.kept.value;
    const value = this.read();
    if (stamp === undefined) return value;
    const kept = { stamp, value };
    this.kept = kept;
    value.catch(() => {
      if (this.kept === kept) this.kept = undefined;
    });
    return value;
  }
}

/** The reading of each {@link nftSnapshot} key. */
const snapshots = new Map<string, KeptReading<unknown>>();

/**
 * `read()`'s result, taken again only when the host's nftables ruleset may have changed since the last
 * reading under `key`: a change `nft monitor` reported, an `nft` command of this agent that may write
 * ({@link nft}), or a watch that cannot tell. A change outside this agent made during the monitor's
 * delivery of its event (a few milliseconds) can be missed by a reading right then, as it would be by a
 * reading started just before it; the next reading sees it. A reading that fails is not kept.
 * Only for what a refresh reports (drift); a decision that must see another agent's writes uses an
 * {@link NftLedger}. `read` is the first one given for `key` (a key names one reading).
 */
export function nftSnapshot<T>(key: string, read: () => Promise<T>): Promise<T> {
  let reading = snapshots.get(key);
  if (!reading) {
    reading = new KeptReading<unknown>(read, 'any');
    snapshots.set(key, reading);
  }
  return reading.get() as Promise<T>;
}

/**
 * A reading of the ruleset (e.g. the packet marks the host's port firewalls use) kept while no process
 * but this agent's own `nft` commands changes the ruleset: the owner applies each of its own writes to
 * it with {@link patch} once the write succeeded, and calls {@link forget} after a write that failed
 * (it may have changed part of what the reading says). Another process's commit, which `nft monitor`
 * reports within milliseconds, makes the next {@link get} read again; a commit still on its way then
 * is missed as it would be by a reading taken just before it (the same window a read-then-write
 * always has).
 */
export class NftLedger<T> extends KeptReading<T> {
  /** @param read reads the ruleset into a fresh value (it may reject; nothing is kept then). */
  constructor(read: () => Promise<T>) {
    super(read, 'foreign');
  }

  /** Applies one of this agent's successful writes to the kept value (after any reading in flight). */
  patch(apply: (value: T) => void): void {
    const kept = this.kept;
    if (kept)
      kept.value = kept.value.then((v) => {
        apply(v);
        return v;
      });
  }

  /** Drops the kept value: the next {@link get} reads the ruleset. */
  forget(): void {
    this.kept = undefined;
  }
}

/** Stops the ruleset watch and forgets every snapshot (the agent's shutdown; tests). */
export function stopNftWatch(): void {
  watch.stop();
  snapshots.clear();
}
