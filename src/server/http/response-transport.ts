// What the two HTTP transports (SSE, HTTP streaming) share: a connection that
// is one streamed response. Queued bytes are the response's writableLength
// (its own and its socket's), drain is the response's 'drain', a heartbeat is
// a line whose write, once flushed, counts as the client's pong (a client
// cannot answer a ping), writes are corked for the rest of the event-loop
// turn, and a closed stream's last line gets CLOSE_FLUSH_MS to leave.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { CloseCode } from '../../protocol/codes.js';
import type { Admission } from '../admission.js';
import type { Config } from '../config.js';
import type { Connection, Core } from '../core/index.js';
import type { HandshakePolicy, Refusal } from '../handshake.js';
import type { LimitHits } from '../limit-hits.js';

/** What an HTTP transport's endpoint is built from (server.ts makes it once). */
export interface HttpTransportDeps {
  core: Core;
  config: Config;
  policy: HandshakePolicy;
  admission: Admission;
  limitHits: LimitHits;
  /** Answer a refusal: counted, logged and sent as the handshake's are. */
  refuse: (req: IncomingMessage, res: ServerResponse, answer: Refusal) => void;
}

/** How long a closed stream's last lines get to leave before its socket is destroyed (as ws's close timeout). */
const CLOSE_FLUSH_MS = 2_000;

/** For a request whose origin passed the check: a cross-origin page (with credentials) may read the answer. */
export function corsHeaders(req: IncomingMessage): Record<string, string> {
  const origin = req.headers.origin;
  return origin === undefined ? {} : { 'Access-Control-Allow-Origin': origin, 'Access-Control-Allow-Credentials': 'true', Vary: 'Origin' };
}

export abstract class ResponseTransport {
  session!: Connection;
  /** Set once the server closed (or dropped) the connection: nothing more is written. */
  protected closeCode: number | null = null;
  protected closeReason = '';
  private corked = false;

  constructor(
    protected readonly core: Core,
    protected readonly res: ServerResponse,
  ) {}

  get bufferedAmount(): number {
    return this.res.writableLength;
  }

  onDrain(listener: () => void): void {
    if (this.res.writableNeedDrain) this.res.once('drain', listener);
    else setImmediate(listener);
  }

  // Nothing is read from the response's client: requests, if any, come as other requests.
  pause(): void {}
  resume(): void {}

  /** Write the heartbeat `line`; once it has left, the client counts as heard from. */
  protected heartbeat(line: string): void {
    if (this.closeCode !== null) return;
    this.res.write(line, (error) => {
      if (!error) this.core.pong(this.session);
    });
  }

  /** End the stream with its `last` line; a client that does not take it in time is cut off. */
  protected endWith(code: number, last: string): void {
    // A client too slow to read its queue will not read a close behind it either.
    if (code === CloseCode.SlowConsumer) {
      this.res.destroy();
      return;
    }
    this.res.end(last);
    const res = this.res;
    setTimeout(() => res.destroy(), CLOSE_FLUSH_MS).unref();
  }

  /** One socket write per event-loop turn, however many frames. */
  protected cork(): void {
    if (this.corked) return;
    this.corked = true;
    this.res.cork();
    setImmediate(() => {
      this.corked = false;
      this.res.uncork();
    });
  }
}
