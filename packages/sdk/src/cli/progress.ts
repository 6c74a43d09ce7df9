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
    case 'done':
      return `${e.name}: ${v.done} complete after ${secs}${e.id && e.op === 'apply' ? ` [id=${e.id}]` : ''}`;
    case 'failed':
      return `${e.name}: ${v.done} FAILED after ${secs}: ${e.error}`;
  }
}

/**
 * Shows apply progress: on a TTY, finished operations scroll by while a live block at the bottom shows
 * each operation in flight with its elapsed time; elsewhere, plain lines.
 */
export class Progress {
  private readonly inFlight = new Map<string, { label: string; since: number }>();
  private drawn = 0;
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly stream: NodeJS.WriteStream,
    private readonly st: Style,
  ) {
    if (this.live) {
      this.timer = setInterval(() => this.redraw(), 1000);
      this.timer.unref();
    }
  }

  private get live(): boolean {
    return this.stream.isTTY === true;
  }

  event(e: ApplyEvent): void {
    const key = `${e.op}:${e.name}`;
    if (!this.live) {
      this.stream.write(`${eventLine(e)}\n`);
      return;
    }
    this.clear();
    if (e.kind === 'start')
      this.inFlight.set(key, { label: `${e.name}: ${verbs(e).doing}`, since: Date.now() });
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
    for (const { label, since } of this.inFlight.values()) {
      this.stream.write(this.st.dim(`  ${label} ${Math.floor((Date.now() - since) / 1000)}s elapsed`) + '\n');
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
