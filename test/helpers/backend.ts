// A real HTTP backend for proxy tests (node:http on a free port): each path
// answers with what the test sets, every call is recorded, and a test can wait
// for a call to arrive or hold one until it says so. No sleeps: waits are for
// calls, with a deadline.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { SwitchboardServer } from '../../src/server/index.js';

export interface BackendCall {
  path: string;
  headers: http.IncomingHttpHeaders;
  /** The raw body, as signed. */
  raw: string;
  body: any;
}

/** Writes the response itself. */
export type Responder = (call: BackendCall, res: http.ServerResponse) => void;
/** What a path answers: a JSON object (status 200), or a responder. */
export type Answer = Responder | Record<string, unknown>;

export class Backend {
  readonly calls: BackendCall[] = [];
  private readonly answers = new Map<string, Answer>();
  private waiters: Array<{ match: (c: BackendCall) => boolean; resolve: (c: BackendCall) => void }> = [];
  private readonly held = new Set<http.ServerResponse>();

  private constructor(
    private readonly server: http.Server,
    readonly url: string,
  ) {}

  static async start(): Promise<Backend> {
    let backend: Backend | null = null;
    const server = http.createServer((req, res) => {
      let raw = '';
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => (raw += chunk));
      req.on('end', () => backend!.handle({ path: req.url ?? '', headers: req.headers, raw, body: JSON.parse(raw) }, res));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    backend = new Backend(server, `http://127.0.0.1:${port}`);
    return backend;
  }

  /** The proxy config with every call pointed here (/connect, /refresh...). */
  proxyConfig(extra: Record<string, unknown> = {}): Record<string, unknown> {
    const at = (path: string) => ({ url: `${this.url}/${path}` });
    return { connect: at('connect'), refresh: at('refresh'), subscribe: at('subscribe'), publish: at('publish'), rpc: at('rpc'), ...extra };
  }

  answer(path: string, answer: Answer): void {
    this.answers.set(path, answer);
  }

  /** Answer nothing on `path` until release(): a slow backend. */
  hold(path: string): void {
    this.answers.set(path, (_call: BackendCall, res: http.ServerResponse) => this.held.add(res));
  }

  /** Answer every held call with `answer`. */
  release(answer: unknown): void {
    for (const res of this.held) res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
    this.held.clear();
  }

  callsTo(path: string): BackendCall[] {
    return this.calls.filter((c) => c.path === `/${path}`);
  }

  /** The first call to `path` after the `seen`-th one, when it arrives. */
  nextCall(path: string, seen = this.callsTo(path).length, timeoutMs = 5_000): Promise<BackendCall> {
    const match = (c: BackendCall) => c.path === `/${path}` && this.callsTo(path).indexOf(c) >= seen;
    const already = this.calls.find(match);
    if (already) return Promise.resolve(already);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no call to /${path} within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push({ match, resolve: (c) => (clearTimeout(timer), resolve(c)) });
    });
  }

  private handle(call: BackendCall, res: http.ServerResponse): void {
    this.calls.push(call);
    this.waiters = this.waiters.filter((w) => !w.match(call) || (w.resolve(call), false));
    const answer = this.answers.get(call.path.slice(1)) ?? { result: {} };
    if (typeof answer === 'function') answer(call, res);
    else res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
  }

  async close(): Promise<void> {
    for (const res of this.held) res.destroy();
    this.held.clear();
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

/** `switchboard_proxy_calls_total` as `{"kind:result": count}`. */
export async function proxyCalls(server: SwitchboardServer): Promise<Record<string, number>> {
  const metric = (await server.metricsSnapshot()).find((m) => m.name === 'switchboard_proxy_calls_total');
  return Object.fromEntries((metric?.values ?? []).map((v) => [`${v.labels.kind}:${v.labels.result}`, v.value]));
}
