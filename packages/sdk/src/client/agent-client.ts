import { readFileSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import * as http from 'node:http';
import type * as Https from 'node:https';
import { createRequire } from 'node:module';
import type { Duplex } from 'node:stream';
import { type ApiOwner, encodeOwner, OWNER_HEADER } from '@stratus/model';
import { ContentCrc32, EXTENTS_MEDIA_TYPE, extentHeader, readExtents } from '@stratus/util';
import { AgentApiError, type ApiErrorBody } from './errors.js';

/**
 * `node:https`, loaded on first use: a CLI that talks to a local agent over its socket never needs TLS
 * (loading it costs every command about 4 ms).
 */
let httpsModule: typeof Https | undefined;
const https = (): typeof Https => {
  httpsModule ??= createRequire(import.meta.url)('node:https') as typeof Https;
  return httpsModule;
};

/** HTTP methods of the agent API. */
export type HttpMethod = 'GET' | 'PUT' | 'POST' | 'DELETE' | 'PATCH' | 'HEAD';

/** How long the agent may take to answer a request, and between two chunks of its answer. */
const ANSWER_TIMEOUT_MS = 600_000;

/** How to reach an agent. */
export interface AgentEndpoint {
  /** Unix socket path (the default transport). */
  socket?: string;
  /** `http(s)://host:port` for TCP. */
  url?: string;
  /** Bearer token, or a file holding it. */
  token?: string;
  tokenFile?: string;
  /** PEM CA certificate(s) to trust for an `https://` url (e.g. the agent's self-signed certificate). */
  ca?: string | Buffer;
  /** The state this client works for: the agent records it on what it creates or imports. */
  owner?: ApiOwner;
}

/** Options of one agent call. */
export interface CallOptions {
  /** Cancels the call, also the request in flight. */
  signal?: AbortSignal;
}

/** Waits `ms`, or rejects with the signal's reason as soon as it aborts. */
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Retry policy for transient failures (agent unreachable, 5xx marked retryable). */
export interface RetryPolicy {
  /** Give up after this long, in milliseconds. */
  maxElapsedMs: number;
  initialDelayMs: number;
  maxDelayMs: number;
}

const DEFAULT_RETRY: RetryPolicy = { maxElapsedMs: 60_000, initialDelayMs: 200, maxDelayMs: 5_000 };
const TRANSIENT = new Set(['ECONNREFUSED', 'ENOENT', 'ECONNRESET', 'EPIPE']);

function errCode(e: unknown): string | undefined {
  const x = e as { code?: string; cause?: { code?: string } };
  return x?.code ?? x?.cause?.code;
}

/** A JSON client for the agent's `/v1` API with bearer auth and retries of transient failures. */
export class AgentClient {
  /**
   * Keeps connections open between calls (node:http's agent, no HTTP library to load: a CLI that
   * talks to the agent once pays for the module loads on every start). Idle sockets do not keep the
   * process alive.
   */
  private readonly agent: http.Agent;
  private readonly url: URL | undefined;
  private readonly token: string;

  constructor(
    readonly endpoint: AgentEndpoint,
    private readonly retry: RetryPolicy = DEFAULT_RETRY,
  ) {
    this.url = endpoint.socket ? undefined : new URL(endpoint.url ?? 'http://stratus-agent');
    this.agent =
      this.url?.protocol === 'https:'
        ? new (https().Agent)({ keepAlive: true, ...(endpoint.ca ? { ca: endpoint.ca } : {}) })
        : new http.Agent({ keepAlive: true });
    this.token =
      endpoint.token ?? (endpoint.tokenFile ? readFileSync(endpoint.tokenFile, 'utf8').trim() : '');
  }

  /** Where this client connects, for messages. */
  /** The state this client works for (see {@link AgentEndpoint.owner}); may be set before calls. */
  owner?: ApiOwner;

  /** Headers of every request: auth, and the owner when known. */
  private headers(): Record<string, string> {
    const owner = this.owner ?? this.endpoint.owner;
    return {
      authorization: `Bearer ${this.token}`,
      ...(owner ? { [OWNER_HEADER]: encodeOwner(owner) } : {}),
    };
  }

  get where(): string {
    return this.endpoint.socket ?? this.endpoint.url ?? '?';
  }

  async get<T>(path: string, opts?: CallOptions): Promise<T> {
    return this.call<T>('GET', path, undefined, opts);
  }

  /** GET that answers `null` for 404. */
  async find<T>(path: string, opts?: CallOptions): Promise<T | null> {
    try {
      return await this.call<T>('GET', path, undefined, opts);
    } catch (e) {
      if (AgentApiError.isInstance(e) && e.status === 404) return null;
      throw e;
    }
  }

  async put<T>(path: string, body: unknown, opts?: CallOptions): Promise<T> {
    return this.call<T>('PUT', path, body, opts);
  }

  async delete(path: string, opts?: CallOptions): Promise<void> {
    await this.call('DELETE', path, undefined, opts);
  }

  /**
   * Sends one request, retrying transient failures with exponential backoff. When `opts.signal` aborts
   * (a timeout, a hard interrupt), the request in flight is cancelled — the connection is closed, so the
   * agent sees it — and the call rejects with the signal's reason (an AbortError or TimeoutError).
   */
  async call<T>(method: HttpMethod, path: string, body?: unknown, opts: CallOptions = {}): Promise<T> {
    const started = Date.now();
    let delay = this.retry.initialDelayMs;
    const { signal } = opts;
    for (;;) {
      signal?.throwIfAborted();
      try {
        return await this.once<T>(method, path, body, signal);
      } catch (e) {
        if (signal?.aborted) throw signal.reason;
        const transient = AgentApiError.isInstance(e) ? e.retryable : TRANSIENT.has(errCode(e) ?? '');
        if (!transient || Date.now() - started + delay > this.retry.maxElapsedMs) {
          if (AgentApiError.isInstance(e)) throw e;
          throw new AgentApiError(
            0,
            'agent_unreachable',
            `cannot reach stratus-agent at ${this.where}: ${(e as Error).message}`,
          );
        }
        await sleep(delay, signal);
        delay = Math.min(delay * 2, this.retry.maxDelayMs);
      }
    }
  }

  private async once<T>(
    method: HttpMethod,
    path: string,
    body: unknown,
    signal: AbortSignal | undefined,
  ): Promise<T> {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const res = await this.send(
      method,
      path,
      { ...this.headers(), ...(data === undefined ? {} : { 'content-type': 'application/json' }) },
      data,
      signal,
    );
    const text = res.text;
    const json: unknown = text ? JSON.parse(text) : undefined;
    if (res.status >= 400) {
      const b = (json ?? {}) as Partial<ApiErrorBody>;
      throw new AgentApiError(
        res.status,
        b.code ?? 'http_error',
        b.message ?? `HTTP ${res.status}`,
        b.field,
        b.retryable === true,
      );
    }
    return json as T;
  }

  /**
   * Sends the file behind `file` (opened by the caller, with its user's own permissions) as the body of
   * `PUT path`: its data extents in the extents wire form (`@stratus/util` sparse.ts; a sparse file's holes
   * are neither read nor sent), and checks that the agent stored exactly what was read: the upload check
   * it answers (`@stratus/util` ContentCrc32) must be the one computed here while reading. `opts.sha256`
   * asks the agent for the file's plain SHA-256 too (a declared checksum is compared against it).
   * Unreachable agents are retried like {@link call}, from the file's start. `opts.progress` gets how far
   * into the file the upload has come, in bytes, about once a second. Answers the agent's size and
   * content checksum (`{sizeBytes, checksum}`). Throws an AgentApiError: the agent's refusal, code
   * `upload_corrupted` when the checks differ, or `agent_unreachable`.
   */
  async upload(
    path: string,
    file: FileHandle,
    opts: CallOptions & { sha256?: boolean; progress?: (bytes: number) => void } = {},
  ): Promise<{ sizeBytes: number; checksum: string }> {
    const started = Date.now();
    let delay = this.retry.initialDelayMs;
    const { signal, progress } = opts;
    const target = opts.sha256 ? `${path}${path.includes('?') ? '&' : '?'}sha256=1` : path;
    for (;;) {
      signal?.throwIfAborted();
      const { size } = await file.stat();
      const check = new ContentCrc32();
      let sent = -1;
      let reported = Date.now();
      // Pieces are read into two buffers in turn, so each is written out whole (its write's callback)
      // before the next piece is asked for; the following piece is read meanwhile.
      const body = async (req: http.ClientRequest) => {
        const write = (bytes: Buffer) =>
          new Promise<void>((resolve, reject) => req.write(bytes, (e) => (e ? reject(e) : resolve())));
        for await (const piece of readExtents(file, size, { reuse: true })) {
          check.addPiece(piece);
          req.write(extentHeader(piece.offset, piece.data.length));
          await write(piece.data);
          if (progress && Date.now() - reported >= 1000) {
            reported = Date.now();
            progress(piece.offset + piece.data.length);
          }
        }
        req.write(extentHeader(size, 0));
        sent = size;
      };
      try {
        const res = await this.send(
          'PUT',
          target,
          { ...this.headers(), 'content-type': EXTENTS_MEDIA_TYPE },
          body,
          signal,
        );
        const text = res.text;
        const json = (text ? JSON.parse(text) : {}) as Partial<ApiErrorBody> & {
          sizeBytes?: number;
          checksum?: string;
          contentCrc32?: string;
        };
        if (res.status >= 400)
          throw new AgentApiError(
            res.status,
            json.code ?? 'http_error',
            json.message ?? `HTTP ${res.status}`,
            json.field,
            json.retryable === true,
          );
        const mine = sent < 0 ? '(not all sent)' : check.hex();
        const checksum = json.checksum ?? '';
        if (json.contentCrc32 !== mine || json.sizeBytes !== sent || !/^[0-9a-f]{64}$/.test(checksum))
          throw new AgentApiError(
            0,
            'upload_corrupted',
            `the agent stored ${json.sizeBytes} bytes with upload check ${json.contentCrc32} (content checksum ${JSON.stringify(checksum)}), but ${sent} bytes with upload check ${mine} were sent: the data changed on its way to the agent's disk`,
          );
        return { sizeBytes: sent, checksum };
      } catch (e) {
        if (signal?.aborted) throw signal.reason;
        if (AgentApiError.isInstance(e)) throw e;
        if (!TRANSIENT.has(errCode(e) ?? '') || Date.now() - started + delay > this.retry.maxElapsedMs)
          throw new AgentApiError(
            0,
            'agent_unreachable',
            `cannot reach stratus-agent at ${this.where}: ${(e as Error).message}`,
          );
        await sleep(delay, signal);
        delay = Math.min(delay * 2, this.retry.maxDelayMs);
      }
    }
  }

  /**
   * `GET path` answered as a stream of bytes (a followed console log): resolves once the agent answered
   * 200, with the body to read (no answer timeout: a followed log may be silent for long); an error
   * answer rejects as {@link call}'s would. Not retried.
   */
  stream(path: string, opts: CallOptions = {}): Promise<AsyncIterable<Uint8Array>> {
    return new Promise((resolve, reject) => {
      const req = this.request('GET', path, this.headers(), opts.signal);
      req.once('error', (e) => reject(this.transportError(e, opts.signal)));
      req.once('response', (res) => {
        if ((res.statusCode ?? 0) < 400) return resolve(res);
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.once('end', () =>
          apiError(res.statusCode ?? 0, Buffer.concat(chunks).toString('utf8')).then(reject, reject),
        );
      });
      req.end();
    });
  }

  /**
   * Opens a TCP tunnel to server `serverId`'s first address, `port` (the agent connects from the
   * network's DHCP namespace): an HTTP upgrade to `stratus-tcp` on `/v1/servers/{id}/tunnel`. Resolves
   * with the connection's socket; rejects with the agent's error (AgentApiError) when it refuses.
   */
  openTunnel(serverId: string, port: number, opts: CallOptions = {}): Promise<Duplex> {
    return this.upgrade(
      `/v1/servers/${encodeURIComponent(serverId)}/tunnel?port=${port}`,
      'stratus-tcp',
      opts,
    );
  }

  /**
   * Opens an upgraded connection (`GET path` with `Upgrade: protocol`): after the agent's 101 the socket
   * carries raw bytes both ways (an interactive serial console, a TCP tunnel). An error answer rejects
   * as {@link call}'s would. Not retried.
   */
  upgrade(path: string, protocol: string, opts: CallOptions = {}): Promise<Duplex> {
    return new Promise<Duplex>((resolve, reject) => {
      const req = this.request(
        'GET',
        path,
        { ...this.headers(), connection: 'Upgrade', upgrade: protocol },
        opts.signal,
      );
      req.once('upgrade', (_res, socket, head) => {
        if (head.length) socket.unshift(head);
        resolve(socket);
      });
      req.once('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.once('end', () =>
          apiError(res.statusCode ?? 0, Buffer.concat(chunks).toString('utf8')).then(reject, reject),
        );
      });
      req.once('error', (e) => reject(this.transportError(e, opts.signal)));
      req.end();
    });
  }

  /** The error a failed connection rejects with: the abort reason, or agent_unreachable. */
  private transportError(e: Error, signal: AbortSignal | undefined): unknown {
    return signal?.aborted
      ? signal.reason
      : new AgentApiError(
          0,
          'agent_unreachable',
          `cannot reach stratus-agent at ${this.where}: ${e.message}`,
        );
  }

  /** An HTTP request to the agent (its socket or URL, with its TLS agent), not yet ended. */
  private request(
    method: HttpMethod,
    path: string,
    headers: Record<string, string | number>,
    signal: AbortSignal | undefined,
  ): http.ClientRequest {
    const target = this.url
      ? {
          protocol: this.url.protocol,
          hostname: this.url.hostname.replace(/^\[|\]$/g, ''),
          port: this.url.port,
        }
      : // No TLS on the socket, so no server name: an empty one also spares Node's http agent its
        // net.isIP() of the host, whose first call compiles an IPv6 pattern (12 ms of every CLI run).
        { socketPath: this.endpoint.socket, host: 'stratus-agent', servername: '' };
    const send = this.url?.protocol === 'https:' ? https().request : http.request;
    return send({ ...target, method, path, agent: this.agent, signal, headers });
  }

  /**
   * One HTTP exchange: sends `body` (a string, or a stream piped as it is read) and reads the whole
   * answer as text. Rejects with the socket's error (its `code`, e.g. ECONNREFUSED, decides retries),
   * with an AbortError when `signal` aborts (the connection is destroyed, so the agent sees it), or
   * when the agent is silent for {@link ANSWER_TIMEOUT_MS}.
   */
  private send(
    method: HttpMethod,
    path: string,
    headers: Record<string, string>,
    body: string | ((req: http.ClientRequest) => Promise<void>) | undefined,
    signal: AbortSignal | undefined,
  ): Promise<{ status: number; text: string }> {
    return new Promise((resolve, reject) => {
      const req = this.request(
        method,
        path,
        typeof body === 'string' ? { ...headers, 'content-length': Buffer.byteLength(body) } : headers,
        signal,
      );
      req.setTimeout(ANSWER_TIMEOUT_MS, () =>
        req.destroy(new Error(`the agent did not answer within ${ANSWER_TIMEOUT_MS / 1000} s`)),
      );
      req.once('error', reject);
      req.once('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.once('error', reject);
        res.once('end', () =>
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
        );
      });
      // A body written by a function: the request ends when it is done, or fails with its error.
      if (typeof body === 'function')
        body(req).then(
          () => req.end(),
          (e) => req.destroy(e as Error),
        );
      else req.end(body);
    });
  }

  async close(): Promise<void> {
    this.agent.destroy();
  }
}

/** The AgentApiError of an error answer's status and body. */
async function apiError(status: number, text: string): Promise<AgentApiError> {
  let b: Partial<ApiErrorBody> = {};
  try {
    b = text ? (JSON.parse(text) as Partial<ApiErrorBody>) : {};
  } catch {
    // Not JSON: the status says enough.
  }
  return new AgentApiError(
    status,
    b.code ?? 'http_error',
    b.message ?? `HTTP ${status}`,
    b.field,
    b.retryable === true,
  );
}
