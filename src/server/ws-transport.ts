// The adapter between `ws` and the core: the only place that touches a
// WebSocket object of the `ws` package, or its internals.
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import type { Core, OpenParams } from './core.js';
import type { Transport } from './transport.js';

export function bindWebSocket(core: Core, socket: WebSocket, params: OpenParams): void {
  // ws keeps the TCP socket in _socket. Corking it for the rest of the tick
  // when the first frame is queued turns a burst of publications into one
  // writev per client instead of one write per frame.
  const tcp = (socket as unknown as { _socket?: Duplex })._socket;
  let corked = false;
  const uncork = () => {
    corked = false;
    tcp!.uncork();
  };
  const transport: Transport = {
    send: (data, binary) => {
      if (tcp && !corked) {
        corked = true;
        tcp.cork();
        process.nextTick(uncork);
      }
      socket.send(data, { binary });
    },
    get bufferedAmount() {
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
