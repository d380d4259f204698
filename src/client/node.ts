// `switchboard/client` in Node: the same client, with `ws` as its WebSocket and
// headers on the handshake, which a browser's WebSocket cannot send.
import WebSocket from 'ws';
import { SwitchboardClient, type ClientOptions, type WebSocketConstructor } from './client.js';
import type { AnySchema, AppSchema } from '../protocol/schema.js';

export * from './index.js';

/** Headers to send on the handshake, or a function giving them before each connect. */
export type HandshakeHeaders = Record<string, string> | (() => Record<string, string>);

export interface NodeClientOptions extends ClientOptions {
  /**
   * Node only: headers sent with every handshake (a session cookie, an API key
   * for an `authenticate` hook), or a function giving them before each
   * connect. A browser's WebSocket cannot send headers: there the page's own
   * cookies for the server's site go by themselves, and `token` carries the rest.
   * They are given as `ws`'s third constructor argument (`{headers}`), so a
   * `WebSocket` option used with them must be `ws` or a subclass of it; HTTP
   * streaming (the fallback transport) sends them on the request that opens its stream.
   */
  headers?: HandshakeHeaders;
}

export function connect<S extends AppSchema = AnySchema>(url: string, options: NodeClientOptions = {}): SwitchboardClient<S> {
  const { headers, ...clientOptions } = options;
  const base = options.WebSocket ?? WebSocket;
  const streamHeaders = headers === undefined ? undefined : typeof headers === 'function' ? headers : () => headers;
  return new SwitchboardClient<S>(url, {
    ...clientOptions,
    WebSocket: headers ? withHeaders(base, headers) : base,
    ...(streamHeaders ? { streamHeaders } : {}),
  });
}

/** The same constructor, handing `{headers}` to each socket it makes. */
function withHeaders(base: WebSocketConstructor, headers: HandshakeHeaders): WebSocketConstructor {
  return new Proxy(base, {
    construct: (target, [url, protocols]: ConstructorParameters<WebSocketConstructor>) =>
      Reflect.construct(target, [url, protocols, { headers: typeof headers === 'function' ? headers() : headers }]) as object,
  });
}
