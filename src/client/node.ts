// `switchboard/client` in Node: the same client, with `ws` as its WebSocket.
import WebSocket from 'ws';
import { SwitchboardClient, type ClientOptions } from './client.js';
import type { AnySchema, AppSchema } from '../protocol/schema.js';

export * from './index.js';

export function connect<S extends AppSchema = AnySchema>(url: string, options: ClientOptions = {}): SwitchboardClient<S> {
  return new SwitchboardClient<S>(url, { WebSocket: WebSocket as never, ...options });
}
