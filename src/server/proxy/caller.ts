// Calls the application's backend over HTTP (docs/backend.md): one POST with a
// JSON body per call, signed when proxy.secret is set, over Node's fetch
// (undici, keep-alive). A backend that is down, slow, answers non-2xx, too
// much or garbage costs the one request `unavailable`; past `concurrency`
// calls in flight a request gets it at once. Failures are logged with the
// client id (never a token or a header), at most once a second per kind and
// outcome, with how many were not.
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { SwitchboardError } from '../../protocol/codes.js';
import { DisconnectError } from '../core/index.js';
import { signHeaders } from '../signing.js';
import { BadAnswer, readAnswer, type ProxyResult } from './answer.js';
import type { ProxyConfig, ProxyKind } from './config.js';

/** How a call ended: what the backend answered, or how it failed. */
export type CallOutcome = 'result' | 'error' | 'disconnect' | 'overloaded' | 'unreachable' | 'timeout' | 'bad_status' | 'too_large' | 'bad_answer';

/** Told of every call when it settles, for /metrics. */
export type ProxyObserver = (kind: ProxyKind, outcome: CallOutcome, seconds: number) => void;

/** A call that failed before a usable answer. */
class CallFailure extends Error {
  constructor(
    readonly outcome: CallOutcome,
    message: string,
  ) {
    super(message);
  }
}

export class ProxyCaller {
  /** Calls waiting for the backend now (at most proxy.concurrency). */
  inFlight = 0;
  observer: ProxyObserver | null = null;
  private readonly logged = new Map<string, { at: number; suppressed: number }>();

  constructor(
    private readonly config: ProxyConfig,
    private readonly logger: Logger,
  ) {}

  /** The backend's result; throws its error (SwitchboardError) or disconnect (DisconnectError), or `unavailable` when the call failed. */
  async call<K extends ProxyKind>(kind: K, client: string, body: Record<string, unknown>): Promise<ProxyResult<K>> {
    const url = this.config[kind]?.url;
    if (!url) throw new SwitchboardError('internal', `proxy.${kind} is not configured`);
    if (this.inFlight >= this.config.concurrency) {
      this.settle(kind, client, 'overloaded', 0, `${this.config.concurrency} calls already in flight (proxy.concurrency)`);
      throw new SwitchboardError('unavailable', 'the backend is busy; try again');
    }
    this.inFlight++;
    const started = performance.now();
    try {
      const result = readAnswer(kind, await this.post(url, JSON.stringify(body)));
      this.settle(kind, client, 'result', started);
      return result;
    } catch (error) {
      if (error instanceof SwitchboardError) this.settle(kind, client, 'error', started);
      else if (error instanceof DisconnectError) this.settle(kind, client, 'disconnect', started);
      else {
        const outcome = error instanceof CallFailure ? error.outcome : error instanceof BadAnswer ? 'bad_answer' : 'unreachable';
        this.settle(kind, client, outcome, started, error instanceof Error ? error.message : String(error));
        throw new SwitchboardError('unavailable', `the backend could not be asked (${outcome}); try again`);
      }
      throw error;
    } finally {
      this.inFlight--;
    }
  }

  /** POST the body and read a JSON answer of at most maxResponseBytes, all within the timeout. */
  private async post(url: string, body: string): Promise<unknown> {
    const { timeout, secret, maxResponseBytes } = this.config;
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeout);
    const headers: Record<string, string> = { 'content-type': 'application/json', ...(secret ? signHeaders(secret, `msg_${randomUUID()}`, body) : {}) };
    try {
      const response = await fetch(url, { method: 'POST', headers, body, signal: controller.signal, redirect: 'manual' });
      if (response.status < 200 || response.status > 299) {
        await response.body?.cancel().catch(() => {});
        throw new CallFailure('bad_status', `HTTP ${response.status}`);
      }
      const text = await readBounded(response, maxResponseBytes);
      try {
        return JSON.parse(text) as unknown;
      } catch {
        throw new CallFailure('bad_answer', 'the answer is not JSON');
      }
    } catch (error) {
      if (controller.signal.aborted) throw new CallFailure('timeout', `no answer within ${timeout} ms (proxy.timeout)`);
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  private settle(kind: ProxyKind, client: string, outcome: CallOutcome, started: number, problem?: string): void {
    this.observer?.(kind, outcome, started === 0 ? 0 : (performance.now() - started) / 1000);
    if (problem === undefined) return;
    const key = `${kind}:${outcome}`;
    const now = Date.now();
    const last = this.logged.get(key);
    if (last && now - last.at < 1_000) {
      last.suppressed++;
      return;
    }
    this.logged.set(key, { at: now, suppressed: 0 });
    this.logger.warn({ client, kind, outcome, problem, alike: last?.suppressed ?? 0 }, 'proxy call failed');
  }
}

/** The body as text, or a too_large failure past `limit` bytes (read no further). */
async function readBounded(response: Response, limit: number): Promise<string> {
  const declared = Number(response.headers.get('content-length'));
  if (declared > limit) {
    await response.body?.cancel().catch(() => {});
    throw new CallFailure('too_large', `a ${declared}-byte answer (proxy.maxResponseBytes is ${limit})`);
  }
  if (!response.body) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = response.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => {});
      throw new CallFailure('too_large', `an answer over ${limit} bytes (proxy.maxResponseBytes)`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}
