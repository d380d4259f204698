// The connection behind `switchboard connect`: either one raw WebSocket (what
// you type is what is sent), or, with --reconnect, the client SDK (its backoff,
// resubscription and recovery) with every frame it receives shown as well.
import WebSocket from 'ws';
import { connect as sdkConnect, type SwitchboardClient, type Subscription } from '../../client/node.js';
import { jsonCodec, type Codec } from '../../protocol/codec.js';
import { msgpackCodec } from '../../protocol/msgpack.js';
import type { StreamPosition } from '../../protocol/frames.js';

export interface SessionOptions {
  url: string;
  headers: Record<string, string>;
  origin?: string;
  msgpack: boolean;
  reconnect: boolean;
  subscribe: string[];
  since?: StreamPosition;
}

export interface SessionEvents {
  /** Every frame received, decoded; `text` is the JSON text as received (JSON codec). */
  frame(frame: unknown, text: string | null): void;
  /** The handshake was refused with an HTTP answer. */
  refused(status: number, body: string): void;
  /** Something worth a line on stderr: a subscription refused or reset, a reconnect. */
  notice(line: string): void;
  /** The connection is over for good. */
  closed(code: number, reason: string): void;
  error(message: string): void;
}

export interface Session {
  readonly connected: boolean;
  /** Send a frame object, or a JSON text as typed (raw mode sends JSON text unchanged). */
  send(frame: Record<string, unknown>, text?: string): boolean;
  close(code?: number, reason?: string): void;
}

export function openSession(options: SessionOptions, events: SessionEvents): Session {
  const codec = options.msgpack ? msgpackCodec : jsonCodec;
  return options.reconnect ? sdkSession(options, codec, events) : rawSession(options, codec, events);
}

function wsOptions(options: SessionOptions): WebSocket.ClientOptions {
  return { headers: options.headers, ...(options.origin ? { origin: options.origin } : {}), perMessageDeflate: false };
}

function decodeData(codec: Codec, data: WebSocket.RawData | ArrayBuffer | string, isBinary: boolean): [unknown, string | null] {
  if (!codec.binary) {
    const text = typeof data === 'string' ? data : Buffer.from(data as ArrayBuffer).toString('utf8');
    try {
      return [JSON.parse(text), text];
    } catch {
      return [text, text];
    }
  }
  const bytes = data instanceof ArrayBuffer ? new Uint8Array(data) : Buffer.isBuffer(data) ? data : Buffer.concat(data as Buffer[]);
  if (!isBinary && typeof data !== 'string' && !(data instanceof ArrayBuffer)) return [bytes.toString(), null];
  return [codec.decode(bytes as Uint8Array), null];
}

function subscribeFrame(channel: string, since?: StreamPosition): Record<string, unknown> {
  // The id names the channel, so a refusal can say which one.
  return { type: 'subscribe', id: `subscribe:${channel}`, channel, ...(since ? { since } : {}) };
}

function rawSession(options: SessionOptions, codec: Codec, events: SessionEvents): Session {
  const ws = new WebSocket(options.url, codec.subprotocol, wsOptions(options));
  let refused = false;
  ws.on('unexpected-response', (_req, res) => {
    refused = true;
    let body = '';
    res.on('data', (chunk) => (body += chunk));
    res.on('end', () => events.refused(res.statusCode ?? 0, body));
  });
  ws.on('error', (error) => !refused && events.error(error.message));
  ws.on('message', (data, isBinary) => {
    const [frame, text] = decodeData(codec, data, isBinary);
    const f = frame as { type?: string; id?: unknown; ok?: boolean; error?: { code: string; message: string } };
    if (f.type === 'welcome') for (const channel of options.subscribe) send(subscribeFrame(channel, options.since));
    if (f.type === 'reply' && f.ok === false && typeof f.id === 'string' && f.id.startsWith('subscribe:')) {
      events.notice(`subscribe to ${f.id.slice('subscribe:'.length)} refused: ${f.error?.code}: ${f.error?.message}`);
    }
    events.frame(frame, text);
  });
  ws.on('close', (code, reason) => !refused && events.closed(code, reason.toString()));
  const send = (frame: Record<string, unknown>, text?: string): boolean => {
    if (ws.readyState !== WebSocket.OPEN) return false;
    ws.send(text !== undefined && !codec.binary ? text : codec.encode(frame));
    return true;
  };
  return {
    get connected() {
      return ws.readyState === WebSocket.OPEN;
    },
    send,
    close: (code = 1000, reason = '') => (ws.readyState === WebSocket.CONNECTING ? ws.terminate() : ws.close(code, reason)),
  };
}

function sdkSession(options: SessionOptions, codec: Codec, events: SessionEvents): Session {
  let current: WebSocket | null = null;
  const baseOptions = wsOptions(options);
  // The SDK's WebSocket: `ws` with our headers, showing every frame it receives.
  class TappedWebSocket extends WebSocket {
    constructor(url: string, protocols?: string | string[]) {
      super(url, protocols, baseOptions);
      current = this;
      this.on('message', (data, isBinary) => {
        const [frame, text] = decodeData(codec, data, isBinary);
        events.frame(frame, text);
      });
      // A refused handshake reaches the SDK as an error and close 1006; say why here.
      this.on('error', (error) => events.notice(`connection failed: ${error.message}`));
    }
  }
  const client: SwitchboardClient = sdkConnect(options.url, { WebSocket: TappedWebSocket as never, codec, reconnect: {} });
  const subscriptions = new Map<string, Subscription>();
  const subscribe = (channel: string, since?: StreamPosition) => {
    if (subscriptions.has(channel)) return;
    const subscription = client.subscribe(channel, () => {});
    if (since) subscription.position = since; // resume from here on the first subscribe too
    subscription.on('reset', () => events.notice(`reset: ${channel} could not be recovered; publications may have been missed`));
    subscription.on('error', (error) => {
      subscriptions.delete(channel);
      events.notice(`subscribe to ${channel} refused: ${error.code}: ${error.message}`);
    });
    subscriptions.set(channel, subscription);
  };
  for (const channel of options.subscribe) subscribe(channel, options.since);
  client.on('state', ({ state, code, reason, willRetry, delay }) => {
    if (state === 'disconnected') {
      events.notice(`disconnected ${code ?? ''}${reason ? ` "${reason}"` : ''}${willRetry ? `; reconnecting in ${((delay ?? 0) / 1000).toFixed(1)} s` : ''}`);
    }
    if (state === 'connected') events.notice('connected');
    if (state === 'closed') events.closed(code ?? 1000, reason ?? '');
  });
  client.on('error', (error) => events.notice(`error: ${(error as Error).message}`));
  return {
    get connected() {
      return client.state === 'connected';
    },
    send(frame, text) {
      // Subscriptions go through the SDK, so they are resubscribed and recovered after a reconnect.
      if (frame.type === 'subscribe' && typeof frame.channel === 'string') {
        subscribe(frame.channel, frame.since as StreamPosition | undefined);
        return true;
      }
      if (frame.type === 'unsubscribe' && typeof frame.channel === 'string') {
        void subscriptions.get(frame.channel)?.unsubscribe();
        subscriptions.delete(frame.channel);
        return true;
      }
      if (client.state !== 'connected' || current?.readyState !== WebSocket.OPEN) return false;
      // The SDK's own requests use integer ids; keep typed ids apart from them.
      const sent = typeof frame.id === 'number' ? { ...frame, id: `cli:${frame.id}` } : frame;
      current.send(sent === frame && text !== undefined && !codec.binary ? text : codec.encode(sent));
      return true;
    },
    close: (code = 1000, reason = '') => client.close(code, reason),
  };
}
