// Type-level tests of the SDK's `WebSocket` option (checked by `npm run
// typecheck`, never run): the docs say any standard WebSocket constructor
// works, so `ws`'s class (and a subclass), the DOM's `WebSocket` and Node's
// global one type-check without a cast, and a class missing what the client
// uses does not.
import WebSocket from 'ws';
import { connect } from '../../src/client/index.js';
import { connect as connectNode } from '../../src/client/node.js';
import type { WebSocketConstructor } from '../../src/client/index.js';

export function checkWebSocketOption(): void {
  connect('ws://localhost/ws', { WebSocket });
  connectNode('ws://localhost/ws', { WebSocket });
  connect('ws://localhost/ws', { WebSocket: globalThis.WebSocket });
  class Traced extends WebSocket {
    override send(data: string | Buffer | Uint8Array): void {
      super.send(data);
    }
  }
  connect('ws://localhost/ws', { WebSocket: Traced });
  const asOption: WebSocketConstructor = WebSocket;
  void asOption;

  class NoClose {
    readonly readyState = 0;
    binaryType = 'arraybuffer';
    onmessage = null;
    onclose = null;
    onerror = null;
    send(_data: string): void {}
  }
  // @ts-expect-error: close is missing
  connect('ws://localhost/ws', { WebSocket: NoClose });
}

export function checkHeaders(): void {
  connectNode('ws://localhost/ws', { headers: { cookie: 'session=1', 'x-api-key': 'k' } });
  connectNode('ws://localhost/ws', { headers: () => ({ authorization: 'Bearer t' }) });
  // @ts-expect-error: the browser build cannot send headers
  connect('ws://localhost/ws', { headers: { cookie: 'session=1' } });
}
