// The adapter between `ws` and the core: the only place that touches a
// WebSocket object of the `ws` package.
import type { WebSocket } from 'ws';
import type { Core, OpenParams } from './core.js';
import type { Transport } from './transport.js';

export function bindWebSocket(core: Core, socket: WebSocket, params: OpenParams): void {
  const transport: Transport = {
    send: (data, binary) => socket.send(data, { binary }),
    get bufferedAmount() {
      return socket.bufferedAmount;
    },
    close: (code, reason) => socket.close(code, reason),
    terminate: () => socket.terminate(),
    ping: () => socket.ping(),
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
