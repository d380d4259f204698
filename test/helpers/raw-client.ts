// A raw `ws` client for tests, speaking hand-written JSON as any third-party
// client would. Every wait is for an event, with a deadline, never a sleep.
import WebSocket, { type ClientOptions } from 'ws';

export type Frame = Record<string, any>;

export interface Closed {
  code: number;
  reason: string;
}

export class RawClient {
  readonly frames: Frame[] = [];
  readonly closed: Promise<Closed>;
  private waiters: Array<{ match: (f: Frame) => boolean; resolve: (f: Frame) => void }> = [];
  private nextId = 1;
  /** Frames already returned by next(), so each is taken once. */
  private readonly taken = new Set<Frame>();

  private constructor(readonly ws: WebSocket) {
    this.closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    ws.on('error', () => {});
    ws.on('message', (data, isBinary) => {
      const frame = isBinary ? { type: '<binary>', data } : (JSON.parse(data.toString()) as Frame);
      this.frames.push(frame);
      this.waiters = this.waiters.filter((w) => {
        if (this.taken.has(frame) || !w.match(frame)) return true;
        this.taken.add(frame);
        w.resolve(frame);
        return false;
      });
    });
  }

  /** Open without waiting for a welcome: for a connection the server turns away at once (1012, 1013). */
  static open(url: string, options: ClientOptions & { protocols?: string | string[] } = {}): RawClient {
    const { protocols, ...rest } = options;
    return new RawClient(new WebSocket(url, protocols, rest));
  }

  /** Connect and wait for the welcome frame. */
  static async connect(url: string, options: ClientOptions & { protocols?: string | string[] } = {}): Promise<RawClient> {
    const { protocols, ...rest } = options;
    const ws = new WebSocket(url, protocols, rest);
    let failure: Error | undefined;
    ws.once('error', (error) => (failure = error));
    const client = new RawClient(ws);
    const closedFirst = client.closed.then((c) => {
      throw failure ?? new Error(`closed with ${c.code} before welcome`);
    });
    await Promise.race([client.next((f) => f.type === 'welcome'), closedFirst]);
    return client;
  }

  get welcome(): Frame {
    return this.frames.find((f) => f.type === 'welcome')!;
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** The first frame (received before or after now) matching `match` that no earlier `next` took. */
  next(match: (f: Frame) => boolean, timeoutMs = 5_000): Promise<Frame> {
    const seen = this.frames.find((f) => !this.taken.has(f) && match(f));
    if (seen) {
      this.taken.add(seen);
      return Promise.resolve(seen);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching frame within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push({
        match,
        resolve: (frame) => {
          clearTimeout(timer);
          resolve(frame);
        },
      });
    });
  }

  /** Send a request with a fresh id and resolve with its reply. */
  async request(frame: Frame): Promise<Frame> {
    const id = this.nextId++;
    this.send({ ...frame, id });
    return this.next((f) => (f.type === 'reply' || f.type === 'pong') && f.id === id);
  }

  /** Request and expect success; resolves to the reply payload. */
  async ok(frame: Frame): Promise<any> {
    const reply = await this.request(frame);
    if (!reply.ok) throw new Error(`${frame.type} failed: ${JSON.stringify(reply.error)}`);
    return reply.payload;
  }

  /** The connection still answers: a ping gets its pong. */
  async alive(): Promise<boolean> {
    const pong = await this.request({ type: 'ping' });
    return pong.type === 'pong';
  }

  messages(channel?: string): Frame[] {
    return this.frames.filter((f) => f.type === 'message' && (channel === undefined || f.channel === channel));
  }

  close(): Promise<Closed> {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close(1000);
    return this.closed;
  }
}
