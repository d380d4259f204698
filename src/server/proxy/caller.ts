// Calls the application's backend over HTTP (docs/backend.md): one POST with a
// JSON body per call, signed when proxy.secret is set, over node:http with a
// keep-alive agent (three times faster per call than fetch, measured in
// docs/benchmarks.md). A backend that is down, slow, answers non-2xx, too
// much or garbage costs the one request `unavailable`; past `concurrency`
// calls in flight a request gets it at once. Failures are logged with the
// client id (never a token or a header), at most once a second per kind and
// outcome, with how many were not.
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { Logger } from 'pino';
import { SwitchboardError } from '../../protocol/codes.js';
import { MAX_DEPTH, tooDeep } from '../../protocol/depth.js';
import { DisconnectError } from '../core/index.js';
import { signHeaders } from '../signing.js';
import type * as Answer from './answer.js';
import type { ProxyResult } from './answer.js';
import type { ProxyConfig, ProxyKind } from './config.js';

/** How a call ended: what the backend answered, or how it failed. */
export type CallOutcome = 'result' | 'error' | 'disconnect' | 'overloaded' | 'unreachable' | 'timeout' | 'bad_status' | 'too_large' | 'bad_answer';

/** Told of every call when it settles, for /metrics. */
export type ProxyObserver = (kind: ProxyKind, outcome: CallOutcome, seconds: number) => void;

// The answers' schemas are built at the first call, not when the server starts.
let answerModule: Promise<typeof Answer> | null = null;
const loadAnswer = () => (answerModule ??= import('./answer.js'));

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
  /** Keep-alive connections to the backend, at most `concurrency` of them. */
  private readonly httpAgent: http.Agent;
  private readonly httpsAgent: https.Agent;

  constructor(
    private readonly config: ProxyConfig,
    private readonly logger: Logger,
    /** limits.presenceInfoBytes: a connect or subscribe answer with bigger info is a bad answer. */
    private readonly infoBytes: number,
  ) {
    // As many idle connections kept as may be busy: closing the extras would reopen them under load.
    const options = { keepAlive: true, maxSockets: config.concurrency, maxFreeSockets: config.concurrency };
    this.httpAgent = new http.Agent(options);
    this.httpsAgent = new https.Agent(options);
  }

  /** Close the idle keep-alive connections (at shutdown). */
  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }

  /** The backend's result; throws its error (SwitchboardError) or disconnect (DisconnectError), or `unavailable` when the call failed. */
  async call<K extends ProxyKind>(kind: K, client: string, body: Record<string, unknown>): Promise<ProxyResult<K>> {
    const url = this.config[kind]?.url;
    if (!url) throw new SwitchboardError('internal', `proxy.${kind} is not configured`);
    const text = JSON.stringify(body, refuseBinary);
    const { readAnswer, BadAnswer } = await loadAnswer();
    if (this.inFlight >= this.config.concurrency) {
      this.settle(kind, client, 'overloaded', 0, `${this.config.concurrency} calls already in flight (proxy.concurrency)`);
      throw new SwitchboardError('unavailable', 'the backend is busy; try again');
    }
    this.inFlight++;
    const started = performance.now();
    try {
      const result = readAnswer(kind, await this.post(url, text), this.infoBytes);
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
  private post(target: string, body: string): Promise<unknown> {
    const { timeout, secret, maxResponseBytes } = this.config;
    const url = new URL(target);
    const secure = url.protocol === 'https:';
    const headers: Record<string, string | number> = {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
      ...(secret ? signHeaders(secret, `msg_${randomUUID()}`, body) : {}),
    };
    return new Promise((resolve, reject) => {
      const fail = (outcome: CallOutcome, message: string) => {
        reject(new CallFailure(outcome, message));
        request.destroy();
      };
      const timer = setTimeout(() => fail('timeout', `no answer within ${timeout} ms (proxy.timeout)`), timeout);
      const request = (secure ? https : http).request(url, { method: 'POST', headers, agent: secure ? this.httpsAgent : this.httpAgent }, (response) => {
        const status = response.statusCode ?? 0;
        if (status < 200 || status > 299) return fail('bad_status', `HTTP ${status}`);
        const chunks: Buffer[] = [];
        let size = 0;
        response.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > maxResponseBytes) fail('too_large', `an answer over ${maxResponseBytes} bytes (proxy.maxResponseBytes)`);
          else chunks.push(chunk);
        });
        response.on('end', () => {
          clearTimeout(timer);
          const text = Buffer.concat(chunks).toString('utf8');
          // As for client frames: parsed deeper, it would fail later, where it cannot be refused cleanly.
          if (tooDeep(text)) return reject(new CallFailure('bad_answer', `the answer is nested deeper than ${MAX_DEPTH} levels`));
          try {
            resolve(JSON.parse(text) as unknown);
          } catch {
            reject(new CallFailure('bad_answer', 'the answer is not JSON'));
          }
        });
        response.on('error', (error) => fail('unreachable', error.message));
      });
      request.on('error', (error) => {
        clearTimeout(timer);
        reject(new CallFailure('unreachable', error.message));
      });
      request.on('close', () => clearTimeout(timer));
      request.end(body);
    });
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

/**
 * A JSON.stringify replacer: the calls are JSON, which has no bytes, and a
 * msgpack client's binary payload would arrive as an object of numbers.
 * Refused before any call instead (docs/backend.md).
 */
function refuseBinary(this: unknown, key: string, value: unknown): unknown {
  if (ArrayBuffer.isView((this as Record<string, unknown>)[key])) {
    throw new SwitchboardError('bad_request', 'binary data cannot be sent to the backend, whose calls are JSON; send it as base64 text');
  }
  return value;
}
