// The adapter between `ws` and the core: the only place that touches a
// WebSocket object of the `ws` package, or its internals.
//
// Frames go straight to the TCP socket, built here as RFC 6455 server frames
// (FIN, opcode, unmasked length, payload): a publication's frame is built once
// and the same bytes are written to every subscriber. Each socket is corked
// on its first write of an event-loop turn and uncorked in setImmediate, so a
// burst becomes one writev per client. ws never sees those writes: it stays in
// charge of reading, control frames and the closing handshake, and of sending
// on connections that negotiated permessage-deflate, whose frames cannot be
// shared.
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import type { Core, OpenParams } from './core.js';
import type { Session } from './session.js';
import type { SharedFrame, Transport } from './transport.js';

const OPEN = 1; // WebSocket.OPEN

/** A socket corked for the rest of this turn. */
interface Corkable {
  readonly tcp: Duplex | null;
  corked: boolean;
}

/**
 * Sockets corked in this turn, in two lists: those whose first frame was one
 * of their own (a reply, a pong, a welcome) are uncorked first. A publisher
 * waiting for its reply would otherwise wait behind every subscriber's write
 * of the same turn, and send its next publications that much later.
 */
const answeringNow: Corkable[] = [];
const corkedNow: Corkable[] = [];
let flushScheduled = false;

/** Sockets being upgraded, corked for this turn: the 101 response and the welcome leave in one write. */
const upgradingNow: Duplex[] = [];

function uncorkAll(): void {
  flushScheduled = false;
  for (const socket of upgradingNow) socket.uncork();
  upgradingNow.length = 0;
  uncorkEach(answeringNow);
  uncorkEach(corkedNow);
}

function uncorkEach(links: Corkable[]): void {
  // uncork on a socket destroyed meanwhile is a no-op; its queue went with it.
  for (const link of links) {
    link.corked = false;
    link.tcp!.uncork();
  }
  links.length = 0;
}

function scheduleUncork(): void {
  if (!flushScheduled) {
    flushScheduled = true;
    setImmediate(uncorkAll);
  }
}

/**
 * Cork a socket about to be upgraded until the turn is over, so that ws's
 * 101 response and the welcome frame share one write (one TCP segment)
 * instead of two. Corks nest: the transport's own cork is released in the
 * same flush.
 */
export function corkUpgrade(socket: Duplex): void {
  socket.cork();
  upgradingNow.push(socket);
  scheduleUncork();
}

function corkForTurn(link: Corkable, shared: boolean): void {
  if (link.corked || !link.tcp) return;
  link.corked = true;
  link.tcp.cork();
  (shared ? corkedNow : answeringNow).push(link);
  scheduleUncork();
}

/** Length of the header of an unmasked frame carrying `n` payload bytes. */
function headerLength(n: number): number {
  return n < 126 ? 2 : n < 65_536 ? 4 : 10;
}

/** FIN + opcode and the payload length (RFC 6455 section 5.2), written at the start of `out`. */
function writeHeader(out: Buffer, n: number, binary: boolean): void {
  out[0] = binary ? 0x82 : 0x81;
  if (n < 126) {
    out[1] = n;
  } else if (n < 65_536) {
    out[1] = 126;
    out.writeUInt16BE(n, 2);
  } else {
    out[1] = 127;
    out.writeUInt32BE(Math.floor(n / 2 ** 32), 2);
    out.writeUInt32BE(n >>> 0, 6);
  }
}

/** A whole server frame for `data`, in one buffer. */
export function serverFrame(data: string | Uint8Array, binary: boolean): Buffer {
  if (typeof data === 'string') {
    const n = Buffer.byteLength(data);
    const head = headerLength(n);
    const out = Buffer.allocUnsafe(head + n);
    writeHeader(out, n, binary);
    out.write(data, head);
    return out;
  }
  const n = data.byteLength;
  const head = headerLength(n);
  const out = Buffer.allocUnsafe(head + n);
  writeHeader(out, n, binary);
  out.set(data, head);
  return out;
}

/**
 * One connection's transport. A class rather than closures: with 100,000
 * connections, per-connection functions are a measurable part of the memory.
 */
class WsTransport implements Transport, Corkable {
  corked = false;
  /** Frames are written straight to `tcp` (no permessage-deflate). */
  private readonly direct: boolean;
  session!: Session;

  constructor(
    readonly core: Core,
    readonly socket: WebSocket,
    /** ws keeps the TCP socket in _socket. */
    readonly tcp: Duplex | null,
  ) {
    // With permessage-deflate, ws compresses (and may queue while it does):
    // every frame must go through it, in order. Without it, ws's sender writes
    // synchronously (it only queues for deflate or Blob data, never sent here),
    // so a direct write cannot land inside one of its frames.
    this.direct = tcp !== null && socket.extensions === '';
  }

  send(data: string | Uint8Array, binary: boolean): void {
    if (this.socket.readyState !== OPEN) return;
    if (this.direct) {
      if (this.tcp!.destroyed) return;
      corkForTurn(this, false);
      this.tcp!.write(serverFrame(data, binary));
      return;
    }
    corkForTurn(this, false);
    this.socket.send(data, { binary });
  }

  sendShared(frame: SharedFrame): void {
    // Nothing once ws is CLOSING (it has sent or is sending a close frame) or the socket is gone.
    if (this.socket.readyState !== OPEN) return;
    if (this.direct) {
      if (this.tcp!.destroyed) return;
      corkForTurn(this, true);
      this.tcp!.write((frame.wire ??= serverFrame(frame.data, frame.binary)));
      return;
    }
    corkForTurn(this, true);
    this.socket.send(frame.data, { binary: frame.binary });
  }

  /** The socket's write queue (which holds the direct writes) plus ws's own, which is empty when writing directly. */
  get bufferedAmount(): number {
    return this.direct ? this.tcp!.writableLength : this.socket.bufferedAmount;
  }

  close(code: number, reason: string): void {
    this.socket.close(code, reason);
  }

  terminate(): void {
    this.socket.terminate();
  }

  ping(): void {
    this.socket.ping();
  }

  /**
   * The TCP socket's 'drain': its write buffer emptied after a write that
   * had to wait. A 'latest' threshold is well past Node's highWaterMark, so
   * a client over it always has such a write outstanding.
   */
  onDrain(listener: () => void): void {
    if (this.tcp?.writableNeedDrain) this.tcp.once('drain', listener);
    else setImmediate(listener);
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }
}

// ws calls its listeners with the WebSocket as `this`: shared functions find
// the connection's transport on it, instead of five closures per connection.
const TRANSPORT = Symbol('switchboard.transport');
type Bound = WebSocket & { [TRANSPORT]: WsTransport };

function onMessage(this: WebSocket, data: Buffer, isBinary: boolean): void {
  const t = (this as Bound)[TRANSPORT];
  t.core.message(t.session, data, isBinary);
}
function onPong(this: WebSocket): void {
  const t = (this as Bound)[TRANSPORT];
  t.core.pong(t.session);
}
function onClose(this: WebSocket, code: number, reason: Buffer): void {
  const t = (this as Bound)[TRANSPORT];
  t.core.closed(t.session, code, reason.toString());
}
// Errors (bad frames, oversize payloads) are followed by 'close' with the
// right code; ws has already started closing, so there is nothing to add.
function onError(): void {}

export function bindWebSocket(core: Core, socket: WebSocket, params: OpenParams): void {
  const tcp = (socket as unknown as { _socket?: Duplex })._socket ?? null;
  const transport = new WsTransport(core, socket, tcp);
  (socket as Bound)[TRANSPORT] = transport;
  transport.session = core.open(transport, params);
  socket.on('message', onMessage);
  socket.on('pong', onPong);
  socket.on('ping', onPong);
  socket.on('close', onClose);
  socket.on('error', onError);
}
