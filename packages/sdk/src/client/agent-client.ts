import { readFileSync } from 'node:fs';
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
  get where(): string {
    return this.endpoint.socket ?? this.endpoint.url ?? '?';
  }

  async get<T>(path: string): Promise<T> {
    return this.call<T>('GET', path);
  }

  /** GET that answers `null` for 404. */
  async find<T>(path: string): Promise<T | null> {
    try {
      return await this.call<T>('GET', path);
    } catch (e) {
      if (AgentApiError.isInstance(e) && e.status === 404) return null;
      throw e;
    }
  }

  async put<T>(path: string, body: unknown): Promise<T> {
    return this.call<T>('PUT', path, body);
  }

  async delete(path: string): Promise<void> {
    await this.call('DELETE', path);
  }

  /** Sends one request, retrying transient failures with exponential backoff. */
  async call<T>(method: Dispatcher.HttpMethod, path: string, body?: unknown): Promise<T> {
    const started = Date.now();
    let delay = this.retry.initialDelayMs;
    for (;;) {
      try {
        return await this.once<T>(method, path, body);
      } catch (e) {
        const transient = AgentApiError.isInstance(e) ? e.retryable : TRANSIENT.has(errCode(e) ?? '');
        if (!transient || Date.now() - started + delay > this.retry.maxElapsedMs) {
          if (AgentApiError.isInstance(e)) throw e;
          throw new AgentApiError(
            0,
            'agent_unreachable',
            `cannot reach stratus-agent at ${this.where}: ${(e as Error).message}`,
          );
        }
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, this.retry.maxDelayMs);
      }
    }
  }

  private async once<T>(method: Dispatcher.HttpMethod, path: string, body?: unknown): Promise<T> {
    const res = await request(`${this.origin}${path}`, {
      method,
      dispatcher: this.dispatcher,
      headers: {
        authorization: `Bearer ${this.token}`,
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

  async close(): Promise<void> {
    await this.dispatcher.close();
  }
}
