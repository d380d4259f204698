// A raw client of the HTTP-stream transport: frames read line by line from
// the streamed GET, requests sent as POSTs with the session's secret, as the
// SDK's fallback does.
import http from 'node:http';

export type Frame = Record<string, any>;

export class StreamClient {
  readonly frames: Frame[] = [];
  secret = '';
  ended = false;
  private waiters: Array<() => void> = [];
  private nextId = 1;
  private req: http.ClientRequest | null = null;

  private constructor(private base: string) {}

  /** Open a session on `base` (the server's URL); a refusal rejects with its status and body. */
  static async open(base: string, headers: Record<string, string> = {}): Promise<StreamClient> {
    const client = new StreamClient(base);
    await client.attach(headers);
    return client;
  }

  /** Open (or, with the secret, reattach) the stream; resolves once its session line is read. */
  attach(headers: Record<string, string> = {}, base = this.base): Promise<void> {
    this.base = base;
    this.ended = false;
    const sessionHeaders = this.secret ? { 'X-Switchboard-Session': this.secret } : {};
    return new Promise((resolve, reject) => {
      const req = http.get(`${base}/stream`, { headers: { ...sessionHeaders, ...headers } }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        if (res.statusCode !== 200) {
          res.on('data', (chunk: string) => (text += chunk));
          res.on('end', () => reject(new Error(`${res.statusCode} ${text}`)));
          return;
        }
        res.on('data', (chunk: string) => {
          text += chunk;
          let newline: number;
          while ((newline = text.indexOf('\n')) !== -1) {
            const line = text.slice(0, newline);
            text = text.slice(newline + 1);
            if (line === '') continue;
            const frame = JSON.parse(line) as Frame;
            if (frame.type === 'session') {
              this.secret = frame.session;
              resolve();
            } else this.frames.push(frame);
            this.wake();
          }
        });
        res.on('close', () => {
          this.ended = true;
          this.wake();
        });
      });
      this.req = req;
      req.on('error', reject);
    });
  }

  /** POST frames (to another node's `base` if given); resolves to the status. */
  async post(frames: Frame[], options: { base?: string; headers?: Record<string, string> } = {}): Promise<number> {
    const res = await fetch(`${options.base ?? this.base}/stream`, {
      method: 'POST',
      headers: { 'X-Switchboard-Session': this.secret, ...options.headers },
      body: frames.map((f) => JSON.stringify(f)).join('\n'),
    });
    await res.arrayBuffer();
    return res.status;
  }

  /** Send a request with an id and wait for its reply. */
  async request(frame: Frame, base?: string): Promise<Frame> {
    const id = this.nextId++;
    await this.post([{ ...frame, id }], base ? { base } : {});
    return this.next((f) => f.type === 'reply' && f.id === id);
  }

  /** The payload of a successful reply. */
  async ok(frame: Frame, base?: string): Promise<any> {
    const reply = await this.request(frame, base);
    if (!reply.ok) throw new Error(JSON.stringify(reply.error));
    return reply.payload;
  }

  /** The first frame (received or to come) that matches. */
  async next(match: (f: Frame) => boolean): Promise<Frame> {
    for (;;) {
      const found = this.frames.find(match);
      if (found) return found;
      if (this.ended) throw new Error(`stream ended; frames: ${JSON.stringify(this.frames.slice(-5))}`);
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  async until(condition: () => boolean): Promise<void> {
    while (!condition()) {
      if (this.ended) throw new Error('stream ended');
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  /** Cut the stream, as a proxy would. */
  cut(): void {
    this.req?.destroy();
  }

  private wake(): void {
    for (const wake of this.waiters.splice(0)) wake();
  }
}
