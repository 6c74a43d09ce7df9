import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { type Duplex, Readable } from 'node:stream';
import { type ApiOwner, encodeOwner, OWNER_HEADER } from '@stratus/model';
import { Agent, type Dispatcher, request } from 'undici';
import { AgentApiError, type ApiErrorBody } from './errors.js';

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
const TRANSIENT = new Set([
  'ECONNREFUSED',
  'ENOENT',
  'ECONNRESET',
  'EPIPE',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
]);

function errCode(e: unknown): string | undefined {
  const x = e as { code?: string; cause?: { code?: string } };
  return x?.code ?? x?.cause?.code;
}

/** A JSON client for the agent's `/v1` API with bearer auth and retries of transient failures. */
export class AgentClient {
  private readonly dispatcher: Dispatcher;
  private readonly origin: string;
  private readonly token: string;

  constructor(
    readonly endpoint: AgentEndpoint,
    private readonly retry: RetryPolicy = DEFAULT_RETRY,
  ) {
    this.dispatcher = new Agent({
      connect: endpoint.socket ? { socketPath: endpoint.socket } : endpoint.ca ? { ca: endpoint.ca } : {},
      headersTimeout: 600_000,
      bodyTimeout: 600_000,
    });
    this.origin = endpoint.url ?? 'http://stratus-agent';
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
  async call<T>(
    method: Dispatcher.HttpMethod,
    path: string,
    body?: unknown,
    opts: CallOptions = {},
  ): Promise<T> {
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
    method: Dispatcher.HttpMethod,
    path: string,
    body: unknown,
    signal: AbortSignal | undefined,
  ): Promise<T> {
    const res = await request(`${this.origin}${path}`, {
      method,
      signal,
      dispatcher: this.dispatcher,
      headers: {
        ...this.headers(),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.body.text();
    const json: unknown = text ? JSON.parse(text) : undefined;
    if (res.statusCode >= 400) {
      const b = (json ?? {}) as Partial<ApiErrorBody>;
      throw new AgentApiError(
        res.statusCode,
        b.code ?? 'http_error',
        b.message ?? `HTTP ${res.statusCode}`,
        b.field,
        b.retryable === true,
      );
    }
    return json as T;
  }

  /**
   * Streams the file behind `file` (opened by the caller, with its user's own permissions) as the body
   * of `PUT path`, and checks that the agent stored exactly what was read: the SHA-256 it answers is the
   * one computed here while reading. Unreachable agents are retried like {@link call}, from the file's
   * start. Answers the agent's `{sizeBytes, checksum}`.
   */
  async upload(
    path: string,
    file: FileHandle,
    opts: CallOptions = {},
  ): Promise<{ sizeBytes: number; checksum: string }> {
    const started = Date.now();
    let delay = this.retry.initialDelayMs;
    const { signal } = opts;
    for (;;) {
      signal?.throwIfAborted();
      const hash = createHash('sha256');
      let sent = 0;
      async function* body(): AsyncGenerator<Uint8Array> {
        for await (const chunk of file.createReadStream({
          start: 0,
          autoClose: false,
          highWaterMark: 1 << 20,
        })) {
          hash.update(chunk as Buffer);
          sent += (chunk as Buffer).length;
          yield chunk as Buffer;
        }
      }
      try {
        const res = await request(`${this.origin}${path}`, {
          method: 'PUT',
          signal,
          dispatcher: this.dispatcher,
          headers: { ...this.headers(), 'content-type': 'application/octet-stream' },
          body: Readable.from(body(), { objectMode: false }),
        });
        const text = await res.body.text();
        const json = (text ? JSON.parse(text) : {}) as Partial<ApiErrorBody> & {
          sizeBytes?: number;
          checksum?: string;
        };
        if (res.statusCode >= 400)
          throw new AgentApiError(
            res.statusCode,
            json.code ?? 'http_error',
            json.message ?? `HTTP ${res.statusCode}`,
            json.field,
            json.retryable === true,
          );
        const mine = hash.digest('hex');
        if (json.checksum !== mine || json.sizeBytes !== sent)
          throw new AgentApiError(
            0,
            'upload_corrupted',
            `the agent stored ${json.sizeBytes} bytes with sha256 ${json.checksum}, but ${sent} bytes with sha256 ${mine} were sent (did the file change while it was read?)`,
          );
        return { sizeBytes: sent, checksum: mine };
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
   * Opens a TCP tunnel to server `serverId`'s first address, `port` (the agent connects from the network's
   * DHCP namespace): an HTTP upgrade to `stratus-tcp` on `/v1/servers/{id}/tunnel`. Resolves with the
   * connection's socket; rejects with the agent's error (AgentApiError) when it refuses.
   */
  openTunnel(serverId: string, port: number): Promise<Duplex> {
    const path = `/v1/servers/${encodeURIComponent(serverId)}/tunnel?port=${port}`;
    const headers = { ...this.headers(), connection: 'Upgrade', upgrade: 'stratus-tcp' };
    const url = new URL(path, this.origin);
    const req = this.endpoint.socket
      ? httpRequest({ socketPath: this.endpoint.socket, path, headers })
      : url.protocol === 'https:'
        ? httpsRequest(url, { headers, ...(this.endpoint.ca ? { ca: this.endpoint.ca } : {}) })
        : httpRequest(url, { headers });
    return new Promise((resolve, reject) => {
      req.once('upgrade', (_res, socket, head) => {
        if (head.length) socket.unshift(head);
        resolve(socket);
      });
      req.once('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.once('end', () => {
          let body: Partial<ApiErrorBody> = {};
          try {
            body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as ApiErrorBody;
          } catch {}
          reject(
            new AgentApiError(
              res.statusCode ?? 0,
              body.code ?? 'tunnel_refused',
              body.message ?? `the agent refused the tunnel (HTTP ${res.statusCode})`,
            ),
          );
        });
      });
      req.once('error', reject);
      req.end();
    });
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }
}
