/** A directed acyclic graph of named nodes; an edge `a -> b` means `a` depends on `b`. */
export class Graph {
  private readonly deps = new Map<string, Set<string>>();
  private readonly rdeps = new Map<string, Set<string>>();

  add(node: string): void {
    if (!this.deps.has(node)) {
      this.deps.set(node, new Set());
      this.rdeps.set(node, new Set());
    }
  }

  /** Records that `from` depends on `to` (both are added if missing). */
  connect(from: string, to: string): void {
    this.add(from);
    this.add(to);
    this.deps.get(from)!.add(to);
    this.rdeps.get(to)!.add(from);
  }

  has(node: string): boolean {
    return this.deps.has(node);
  }

  get nodes(): string[] {
    return [...this.deps.keys()];
  }

  dependencies(node: string): string[] {
    return [...(this.deps.get(node) ?? [])];
  }

  dependents(node: string): string[] {
    return [...(this.rdeps.get(node) ?? [])];
  }

  /** One cycle per strongly connected component that has one, each as a node list `a, b, ..., a`. */
  cycles(): string[][] {
    const index = new Map<string, number>();
    const low = new Map<string, number>();
    const onStack = new Set<string>();
    const stack: string[] = [];
    const out: string[][] = [];
    let i = 0;
    // Tarjan's algorithm with an explicit stack of frames: recursion overflowed the call stack on a
    // dependency chain of about 15,000 resources.
    const frames: { v: string; next: Iterator<string> }[] = [];
    const enter = (v: string): void => {
      index.set(v, i);
      low.set(v, i);
      i++;
      stack.push(v);
      onStack.add(v);
      frames.push({ v, next: this.deps.get(v)![Symbol.iterator]() });
    };
    const leave = (v: string): void => {
      if (low.get(v) !== index.get(v)) return;
      const comp: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        comp.push(w);
      } while (w !== v);
      if (comp.length > 1 || this.deps.get(v)!.has(v)) out.push(this.cyclePath(comp));
    };
    for (const root of [...this.deps.keys()].sort()) {
      if (index.has(root)) continue;
      enter(root);
      while (frames.length) {
        const top = frames[frames.length - 1]!;
        const step = top.next.next();
        if (!step.done) {
          const w = step.value;
          if (!index.has(w)) enter(w);
          else if (onStack.has(w)) low.set(top.v, Math.min(low.get(top.v)!, index.get(w)!));
          continue;
        }
        frames.pop();
        leave(top.v);
        const parent = frames[frames.length - 1];
        if (parent) low.set(parent.v, Math.min(low.get(parent.v)!, low.get(top.v)!));
      }
    }
    return out;
  }

  /** A concrete cycle through the nodes of a strongly connected component. */
  private cyclePath(comp: string[]): string[] {
    const set = new Set(comp);
    const start = [...comp].sort()[0]!;
    const path = [start];
    const seen = new Set([start]);
    let cur = start;
    for (;;) {
      const next = [...this.deps.get(cur)!].filter((n) => set.has(n)).sort();
      const back = next.find((n) => n === start);
      const fwd = next.find((n) => !seen.has(n));
      if (back && (!fwd || path.length === comp.length)) return [...path, start];
      if (!fwd) return [...path, next[0] ?? start];
      path.push(fwd);
      seen.add(fwd);
      cur = fwd;
    }
  }

  /** Nodes ordered so that every node comes after its dependencies. Requires an acyclic graph. */
  topoOrder(): string[] {
    const out: string[] = [];
    const pending = new Map([...this.deps].map(([k, v]) => [k, v.size]));
    const ready = [...pending].filter(([, n]) => n === 0).map(([k]) => k);
    ready.sort();
    // A moving head rather than shift(), which can copy the whole queue on every call.
    for (let head = 0; head < ready.length; head++) {
      const n = ready[head]!;
      out.push(n);
      for (const d of this.rdeps.get(n)!) {
        const left = pending.get(d)! - 1;
        pending.set(d, left);
        if (left === 0) ready.push(d);
      }
    }
    if (out.length !== this.deps.size) throw new Error('topoOrder: graph has a cycle');
    return out;
  }
}

/** Outcome of one node of a walk. */
export type WalkStatus = 'ok' | 'failed' | 'skipped' | 'cancelled';

/**
 * Runs `visit` for every node once all its dependencies finished, at most `parallelism` at a time.
 * A node whose dependency failed or was skipped is skipped; unrelated branches go on. When
 * `shouldStart()` turns false, nodes not yet started are cancelled while running ones finish.
 * Refuses (rejects before visiting anything) a graph with a cycle, whose nodes could never start.
 */
export async function walk(
  graph: Graph,
  parallelism: number,
  visit: (node: string) => Promise<void>,
  shouldStart: () => boolean = () => true,
): Promise<Map<string, { status: WalkStatus; error?: unknown }>> {
  // A bug in whoever built the graph: without this, the walk would end with the cycle's nodes (and
  // everything after them) never visited, and look like a success.
  const cycle = graph.cycles()[0];
  if (cycle) throw new Error(`walk: the graph has a cycle: ${cycle.join(' -> ')}`);
  const result = new Map<string, { status: WalkStatus; error?: unknown }>();
  const waiting = new Map(graph.nodes.map((n) => [n, graph.dependencies(n).length]));
  const ready: string[] = graph.nodes.filter((n) => waiting.get(n) === 0).sort();
  let running = 0;
  return new Promise((resolveAll) => {
    const finish = (node: string, status: WalkStatus, error?: unknown) => {
      result.set(node, { status, error });
      for (const d of graph.dependents(node)) {
        const left = waiting.get(d)! - 1;
        waiting.set(d, left);
        if (left === 0) ready.push(d);
      }
    };
    const pump = () => {
      while (ready.length && running < parallelism) {
        const node = ready.shift()!;
        const blocked = graph.dependencies(node).find((d) => result.get(d)?.status !== 'ok');
        if (blocked !== undefined) {
          const st = result.get(blocked)!.status;
          finish(node, st === 'cancelled' ? 'cancelled' : 'skipped');
          continue;
        }
        if (!shouldStart()) {
          finish(node, 'cancelled');
          continue;
        }
        running++;
        visit(node).then(
          () => {
            running--;
            finish(node, 'ok');
            pump();
          },
          (error: unknown) => {
            running--;
            finish(node, 'failed', error);
            pump();
          },
        );
      }
      if (running === 0 && ready.length === 0) resolveAll(result);
    };
    pump();
  });
}
