// The adapter between `ws` and the core: the only place that touches a
// WebSocket object of the `ws` package, or its internals (with deflate.ts,
// for permessage-deflate's zlib streams).
//
// Frames go straight to the TCP socket, built here as RFC 6455 server frames
// (FIN, opcode, unmasked length, payload): a publication's frame is built once
// and the same bytes are written to every subscriber. A connection's own
// frames (replies, pongs, the welcome) cork its socket on the first one of an
// event-loop turn, and it is uncorked in setImmediate, so a burst becomes one
// writev. Shared frames are not written one by one: the turn's sequence of
// them per socket is a Run (below), written at the end of the turn as one
// buffer that every socket which received the same sequence shares. ws never
// sees those writes: it stays in charge of reading, control frames and the
// closing handshake, and of sending on connections that negotiated
// permessage-deflate, whose frames cannot be shared.
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import type { Connection, Core, OpenParams, SharedFrame, Transport } from './core/index.js';
import { freeZlibBetweenMessages } from './deflate.js';

const OPEN = 1; // WebSocket.OPEN

/** A socket corked for the rest of this turn. */
interface Corkable {
  readonly tcp: Duplex | null;
  corked: boolean;
}

/**
 * Runs longer than this are written frame by frame rather than joined: past
 * it, a chunk per frame costs little beside the bytes, and one big copy per
 * turn would not be worth it.
 */
const JOIN_LIMIT = 65_536;

/**
 * A sequence of shared frames sent to a socket in this turn, as a node of a
 * tree whose root is the turn's empty sequence: each frame moves a socket
 * from its run to the run's child for that frame. Subscribers that received
 * the same frames in the same order (every subscriber of a busy channel) end
 * on the same run, whose frames are joined into one buffer once and written
 * to each of them as a single chunk: no per-frame stream write, chunk object
 * or iovec per subscriber.
 */
class Run {
  /** Sockets whose turn ends on this run, counted at the flush. */
  ends = 0;
  private joinedWire: Buffer | null = null;
  /** The child most runs have, kept out of a Map; others go in `more`. */
  private nextFrame: SharedFrame | null = null;
  private nextRun: Run | null = null;
  private more: Map<SharedFrame, Run> | null = null;

  constructor(
    readonly parent: Run | null,
    /** This run's last frame, on the wire; null for the root. */
    readonly wire: Uint8Array | null,
    /** Bytes of every frame in the run: what the socket has queued beyond its stream. */
    readonly bytes: number,
    readonly length: number,
  ) {}

  next(frame: SharedFrame, wire: Uint8Array): Run {
    if (this.nextFrame === frame) return this.nextRun!;
    let run = this.more?.get(frame);
    if (run === undefined) {
      run = new Run(this, wire, this.bytes + wire.byteLength, this.length + 1);
      if (this.nextFrame === null) {
        this.nextFrame = frame;
        this.nextRun = run;
      } else {
        (this.more ??= new Map()).set(frame, run);
      }
    }
    return run;
  }

  /** The run's frames in order. */
  frames(): Uint8Array[] {
    const frames: Uint8Array[] = new Array<Uint8Array>(this.length);
    let i = this.length;
    for (let run: Run = this; run.wire !== null; run = run.parent!) frames[--i] = run.wire;
    return frames;
  }

  /** All the frames in one buffer, built once for every socket that ends here. */
  joined(): Buffer {
    return (this.joinedWire ??= Buffer.concat(this.frames(), this.bytes));
  }
}

/** The turn's empty sequence; replaced at each flush, so the tree is garbage once written. */
let root = new Run(null, null, 0, 0);
/** Sockets with shared frames this turn (whose run may since have been written early). */
const runningNow: WsTransport[] = [];

/**
 * Sockets corked in this turn, in two lists: those whose first frame was one
 * of their own (a reply, a pong, a welcome) are uncorked first. A publisher
 * waiting for its reply would otherwise wait behind every subscriber's write
 * of the same turn, and send its next publications that much later.
 */
const answeringNow: WsTransport[] = [];
const corkedNow: WsTransport[] = [];
let flushScheduled = false;

/** Sockets being upgraded, corked for this turn: the 101 response and the welcome leave in one write. */
const upgradingNow: Duplex[] = [];

function uncorkAll(): void {
  flushScheduled = false;
  for (const socket of upgradingNow) socket.uncork();
  upgradingNow.length = 0;
  // Replies first: a socket that answered and also holds shared frames gets
  // them in the same writev, queued behind its own frames.
  for (const link of answeringNow) link.writeRun(false);
  uncorkEach(answeringNow);
  for (const link of runningNow) if (link.run !== null) link.run.ends++;
  for (const link of runningNow) {
    link.running = false;
    link.writeRun(true);
  }
  runningNow.length = 0;
  root = new Run(null, null, 0, 0);
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

function corkForTurn(link: WsTransport, shared: boolean): void {
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
  /** Shared frames sent this turn and not yet written to the socket. */
  run: Run | null = null;
  /** In runningNow for this turn. */
  running = false;
  /** Frames are written straight to `tcp` (no permessage-deflate). */
  private readonly direct: boolean;
  session!: Connection;

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
      // Shared frames sent earlier in the turn go first.
      if (this.run !== null) this.writeRun(false);
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
      const wire = (frame.wire ??= serverFrame(frame.data, frame.binary));
      if (this.run !== null) {
        this.run = this.run.next(frame, wire);
        return;
      }
      if (this.tcp!.destroyed) return;
      this.run = root.next(frame, wire);
      if (!this.running) {
        this.running = true;
        runningNow.push(this);
        scheduleUncork();
      }
      return;
    }
    corkForTurn(this, true);
    this.socket.send(frame.data, { binary: frame.binary });
  }

  /**
   * Write the shared frames of this turn held for this socket: as the run's
   * joined buffer when other sockets ended on the same run (`shared`, at the
   * flush), else frame by frame. Nothing once ws is CLOSING or the socket is
   * gone: a close ws sent meanwhile (answering the peer's) must stay last.
   */
  writeRun(shared: boolean): void {
    const run = this.run;
    if (run === null) return;
    this.run = null;
    const tcp = this.tcp!;
    if (this.socket.readyState !== OPEN || tcp.destroyed) return;
    if (run.length === 1) {
      tcp.write(run.wire!);
    } else if (shared && run.ends > 1 && run.bytes <= JOIN_LIMIT) {
      tcp.write(run.joined());
    } else {
      tcp.cork();
      for (const wire of run.frames()) tcp.write(wire);
      tcp.uncork();
    }
  }

  /** The socket's write queue (which holds the direct writes) and the shared frames held for it; ws's own queue when not writing directly. */
  get bufferedAmount(): number {
    if (!this.direct) return this.socket.bufferedAmount;
    const queued = this.tcp!.writableLength;
    return this.run === null ? queued : queued + this.run.bytes;
  }

  close(code: number, reason: string): void {
    // What was sent before the close goes before the close frame.
    this.writeRun(false);
    this.socket.close(code, reason);
  }

  terminate(): void {
    this.run = null;
    this.socket.terminate();
  }

  ping(): void {
    this.writeRun(false);
    this.socket.ping();
  }

  /**
   * The TCP socket's 'drain': its write buffer emptied after a write that
   * had to wait. A 'latest' threshold is well past Node's highWaterMark, so
   * a client over it always has such a write outstanding.
   */
  onDrain(listener: () => void): void {
    // Shared frames held for the socket are written in an immediate queued
    // before this one: the listener then finds them in the socket's queue.
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
  // ws's private field. Without it every frame would go through ws, slower but
  // correct; package.json pins ws to a patch range (~8.23.0) and
  // test/server/ws-transport.test.ts ("the direct path") fails if a release moves it.
  const tcp = (socket as unknown as { _socket?: Duplex })._socket ?? null;
  const transport = new WsTransport(core, socket, tcp);
  (socket as Bound)[TRANSPORT] = transport;
  if (socket.extensions !== '') freeZlibBetweenMessages(socket);
  transport.session = core.open(transport, params);
  socket.on('message', onMessage);
  socket.on('pong', onPong);
  socket.on('ping', onPong);
  socket.on('close', onClose);
  socket.on('error', onError);
}
