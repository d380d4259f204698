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
import type { SharedFrame, Transport } from './transport.js';

const OPEN = 1; // WebSocket.OPEN

/** A socket corked for the rest of this turn. */
interface Corkable {
  tcp: Duplex;
  corked: boolean;
}

const corkedNow: Corkable[] = [];
let flushScheduled = false;

function uncorkAll(): void {
  flushScheduled = false;
  // uncork on a socket destroyed meanwhile is a no-op; its queue went with it.
  for (const link of corkedNow) {
    link.corked = false;
    link.tcp.uncork();
  }
  corkedNow.length = 0;
}

function corkForTurn(link: Corkable): void {
  if (link.corked) return;
  link.corked = true;
  link.tcp.cork();
  corkedNow.push(link);
  if (!flushScheduled) {
    flushScheduled = true;
    setImmediate(uncorkAll);
  }
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

export function bindWebSocket(core: Core, socket: WebSocket, params: OpenParams): void {
  // ws keeps the TCP socket in _socket.
  const tcp = (socket as unknown as { _socket?: Duplex })._socket;
  const link: Corkable | null = tcp ? { tcp, corked: false } : null;
  // With permessage-deflate, ws compresses (and may queue while it does):
  // every frame must go through it, in order. Without it, ws's sender writes
  // synchronously (it only queues for deflate or Blob data, never sent here),
  // so a direct write cannot land inside one of its frames.
  const direct = link !== null && socket.extensions === '';
  /** Open, no close frame sent yet (ws is CLOSING from then on), socket not destroyed. */
  const writable = () => socket.readyState === OPEN && !link!.tcp.destroyed;

  const transport: Transport = {
    send: (data, binary) => {
      if (socket.readyState !== OPEN) return;
      if (direct) {
        if (link.tcp.destroyed) return;
        corkForTurn(link);
        link.tcp.write(serverFrame(data, binary));
        return;
      }
      if (link) corkForTurn(link);
      socket.send(data, { binary });
    },
    sendShared: (frame: SharedFrame) => {
      if (direct) {
        if (!writable()) return;
        corkForTurn(link);
        link.tcp.write((frame.wire ??= serverFrame(frame.data, frame.binary)));
        return;
      }
      if (socket.readyState !== OPEN) return;
      if (link) corkForTurn(link);
      socket.send(frame.data, { binary: frame.binary });
    },
    get bufferedAmount() {
      // The socket's write queue (which holds the direct writes) plus ws's own.
      return socket.bufferedAmount;
    },
    close: (code, reason) => socket.close(code, reason),
    terminate: () => socket.terminate(),
    ping: () => socket.ping(),
    // The TCP socket's 'drain': its write buffer emptied after a write that
    // had to wait. A 'latest' threshold is well past Node's highWaterMark, so
    // a client over it always has such a write outstanding.
    onDrain: (listener) => {
      if (tcp?.writableNeedDrain) tcp.once('drain', listener);
      else setImmediate(listener);
    },
    pause: () => socket.pause(),
    resume: () => socket.resume(),
  };
  const session = core.open(transport, params);
  socket.on('message', (data, isBinary) => core.message(session, data as Buffer, isBinary));
  socket.on('pong', () => core.pong(session));
  socket.on('ping', () => core.pong(session));
  socket.on('close', (code, reason) => core.closed(session, code, reason.toString()));
  // Errors (bad frames, oversize payloads) are followed by 'close' with the
  // right code; ws has already started closing, so there is nothing to add.
  socket.on('error', () => {});
}
