import type { ApplyEvent } from '../engine/apply.js';
import type { Style } from './render.js';

function verbs(e: Exclude<ApplyEvent, { kind: 'skipped' }>): { doing: string; done: string } {
  if (e.op === 'destroy') return { doing: 'Destroying...', done: 'Destruction' };
  if (e.action === 'update') return { doing: 'Modifying...', done: 'Modification' };
  return { doing: 'Creating...', done: 'Creation' };
}

/** One line for an apply event (what a non-TTY log gets). */
export function eventLine(e: ApplyEvent): string {
  if (e.kind === 'skipped') return `${e.name}: skipped (${e.reason})`;
  const v = verbs(e);
  const secs = 'elapsedMs' in e ? `${(e.elapsedMs / 1000).toFixed(1)}s` : '';
  switch (e.kind) {
    case 'start':
      return `${e.name}: ${v.doing}`;
    case 'progress':
      return `${e.name}: Still ${v.doing.toLowerCase()} (${e.detail})`;
    case 'done':
      return `${e.name}: ${v.done} complete after ${secs}${e.id && e.op === 'apply' ? ` [id=${e.id}]` : ''}`;
    case 'failed':
      return `${e.name}: ${v.done} FAILED after ${secs}: ${e.error}`;
  }
}

/** How often a plain (non-TTY) log tells of an operation's progress, in milliseconds. */
const PLAIN_PROGRESS_MS = 10_000;

/**
 * Shows apply progress: on a TTY, finished operations scroll by while a live block at the bottom shows
 * each operation in flight with its elapsed time and what its provider last said of its progress (an
 * image's download); elsewhere, plain lines, and for an operation that reports progress, a "Still
 * creating..." line at most every 10 seconds.
 */
export class Progress {
  /** Operations in flight: their label, start, latest progress detail, and when a plain line last told of them. */
  private readonly inFlight = new Map<
    string,
    { label: string; since: number; detail?: string; told: number }
  >();
  private drawn = 0;
  private timer?: NodeJS.Timeout;

  /** `now` is the clock (epoch milliseconds) for elapsed times. */
  constructor(
    private readonly stream: NodeJS.WriteStream,
    private readonly st: Style,
    private readonly now: () => number = Date.now,
  ) {
    if (this.live) {
      this.timer = setInterval(() => this.redraw(), 1000);
      this.timer.unref();
    }
  }

  /** Whole seconds since `since` (epoch milliseconds), as `12s`. */
  private elapsed(since: number): string {
    return `${Math.floor((this.now() - since) / 1000)}s`;
  }

  private get live(): boolean {
    return this.stream.isTTY === true;
  }

  event(e: ApplyEvent): void {
    const key = `${e.op}:${e.name}`;
    if (e.kind === 'progress') {
      const f = this.inFlight.get(key);
      if (!f) return;
      f.detail = e.detail;
      // A plain log tells of progress at most every PLAIN_PROGRESS_MS (Terraform's "Still creating...").
      if (!this.live && this.now() - f.told >= PLAIN_PROGRESS_MS) {
        f.told = this.now();
        this.stream.write(
          `${e.name}: Still ${verbs(e).doing.toLowerCase()} [${this.elapsed(f.since)} elapsed, ${e.detail}]\n`,
        );
      }
      return;
    }
    if (!this.live) {
      if (e.kind === 'start') this.inFlight.set(key, { label: '', since: this.now(), told: this.now() });
      else this.inFlight.delete(key);
      this.stream.write(`${eventLine(e)}\n`);
      return;
    }
    this.clear();
    if (e.kind === 'start')
      this.inFlight.set(key, { label: `${e.name}: ${verbs(e).doing}`, since: this.now(), told: this.now() });
    else {
      this.inFlight.delete(key);
      const line = eventLine(e);
      this.stream.write(
        `${e.kind === 'failed' ? this.st.red(line) : e.kind === 'skipped' ? this.st.yellow(line) : line}\n`,
      );
    }
    this.draw();
  }

  private clear(): void {
    if (this.drawn > 0) this.stream.write(`\u001b[${this.drawn}A\u001b[J`);
    this.drawn = 0;
  }

  private draw(): void {
    for (const { label, since, detail } of this.inFlight.values()) {
      this.stream.write(
        this.st.dim(`  ${label} ${this.elapsed(since)} elapsed${detail ? `, ${detail}` : ''}`) + '\n',
      );
      this.drawn++;
    }
  }

  private redraw(): void {
    this.clear();
    this.draw();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.live) this.clear();
  }
}
