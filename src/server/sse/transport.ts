// The SSE adapter between an HTTP response and the core: a Transport like the
// WebSocket one, so every bound applies unchanged (docs/protocol.md, "SSE for
// a plain EventSource"). The stream subscribes for its client, as a client
// would, and turns the frames the core sends into events:
//
// - until every subscribe is answered, frames are held here (counted as
//   queued): a refused channel is then still an HTTP status with a JSON body;
// - `welcome` (its payload as data) carries the first cursor, `reset` follows
//   for each channel a resume could not recover, then the held frames in order;
// - `message` events carry the cursor of every channel in `id:`; other frames
//   are events named after their type (join, leave...); replies are the
//   stream's own and not sent.
//
// The heartbeat is a comment line, a close an `event: close` with the code and
// reason before the response ends (response-transport.ts has the rest).
import type { ServerResponse } from 'node:http';
import type { SubscribeResult, StreamPosition } from '../../protocol/frames.js';
import type { Core, SharedFrame, Transport } from '../core/index.js';
import { ResponseTransport } from '../http/response-transport.js';
import { encodePosition, joinCursor } from './cursor.js';

/** What a frame is, read from its first bytes (the core writes `type`, then `channel`, then `offset`). */
const HEAD = /^\{"type":"([a-z_]+)"(?:,"channel":"([^"]*)")?(?:,"offset":(\d+))?/;
const HEAD_BYTES = 400;

/** A shared frame as an event, built once for every stream it goes to. */
interface SharedEvent {
  /** `event:` and `data:` lines and the blank line that ends the event. */
  readonly body: string;
  readonly channel: string | undefined;
  readonly offset: number | undefined;
}
const sharedEvents = new WeakMap<SharedFrame, SharedEvent>();

function eventOf(frame: SharedFrame): SharedEvent {
  let event = sharedEvents.get(frame);
  if (event === undefined) {
    const text = Buffer.from(frame.data.buffer, frame.data.byteOffset, frame.data.byteLength).toString('utf8');
    const head = HEAD.exec(text.slice(0, HEAD_BYTES));
    const type = head?.[1] ?? 'frame';
    event = { body: `event: ${type}\ndata: ${text}\n\n`, channel: head?.[2], offset: head?.[3] === undefined ? undefined : Number(head[3]) };
    sharedEvents.set(frame, event);
  }
  return event;
}

/** How a stream's subscribes went, once all are answered. */
export type Subscribed = { ok: true } | { ok: false; code: string; message: string };

export class SseTransport extends ResponseTransport implements Transport {
  /** Frames held until every subscribe is answered; null once the stream has started. */
  private held: Array<string | SharedFrame> | null = [];
  private heldBytes = 0;
  private answered = 0;
  private failure: { code: string; message: string } | null = null;
  /** Each channel's position as this stream has delivered it; null for one without history. */
  private readonly positions: Array<StreamPosition | null>;
  private readonly indexOf = new Map<string, number>();
  /** Each channel's part of the cursor, encoded (set at the welcome). */
  private parts: string[] | null = null;
  /** Channels a resume could not recover, by index. */
  private readonly resets: boolean[] = [];

  constructor(
    core: Core,
    res: ServerResponse,
    private readonly channels: readonly string[],
    /** From the client's cursor, when it resumes. */
    private readonly since: ReadonlyArray<StreamPosition | null> | null,
    /** The cursor's channel-list hash. */
    private readonly list: string,
    /** Every subscribe was answered (or the session closed first): start the stream or refuse it. */
    private readonly onSubscribed: (outcome: Subscribed) => void,
    /** The headers that start the stream. */
    private readonly headers: Record<string, string>,
  ) {
    super(core, res);
    this.positions = channels.map(() => null);
    channels.forEach((channel, i) => this.indexOf.set(channel, i));
    res.on('close', () => this.core.closed(this.session, this.closeCode ?? 1006, this.closeReason));
  }

  /** The subscribe requests the stream makes for its client; reply ids are channel index + 1. */
  requests(): string[] {
    return this.channels.map((channel, i) => {
      const since = this.since?.[i];
      return JSON.stringify(since ? { type: 'subscribe', id: i + 1, channel, since } : { type: 'subscribe', id: i + 1, channel });
    });
  }

  send(data: string | Uint8Array, _binary: boolean): void {
    if (this.closeCode !== null) return;
    const text = typeof data === 'string' ? data : Buffer.from(data).toString('utf8');
    if (text.startsWith('{"type":"reply"')) {
      if (this.held !== null) this.onReply(text);
      return;
    }
    if (this.held !== null) {
      this.held.push(text);
      this.heldBytes += Buffer.byteLength(text);
      return;
    }
    this.writeText(text);
  }

  sendShared(frame: SharedFrame): void {
    if (this.closeCode !== null) return;
    if (this.held !== null) {
      this.held.push(frame);
      this.heldBytes += frame.data.byteLength;
      return;
    }
    const event = eventOf(frame);
    this.cork();
    // One write (one chunk) per event, its id line included.
    this.res.write(event.offset !== undefined && event.channel !== undefined ? this.advance(event.channel, event.offset) + event.body : event.body);
  }

  override get bufferedAmount(): number {
    return this.res.writableLength + this.heldBytes;
  }

  close(code: number, reason: string): void {
    if (this.closeCode !== null) return;
    this.closeCode = code;
    this.closeReason = reason;
    if (this.held !== null) {
      // Closed before the stream started (a connect hook refused, a bound was hit): an HTTP answer.
      this.held = null;
      this.heldBytes = 0;
      this.onSubscribed({ ok: false, ...refusalOf(code, reason) });
      return;
    }
    const retry = retryHint(code, reason);
    this.endWith(code, `${retry === null ? '' : `retry: ${retry}\n`}event: close\ndata: ${JSON.stringify({ code, reason })}\n\n`);
  }

  terminate(): void {
    this.held = null;
    this.heldBytes = 0;
    this.res.destroy();
  }

  ping(): void {
    // Still subscribing (a hook deciding): nothing may be written before the head.
    if (this.held !== null) this.core.pong(this.session);
    else this.heartbeat(':\n\n');
  }

  /** Start the stream: headers, welcome with the first cursor, resets, then what was held. */
  start(): void {
    const held = this.held ?? [];
    this.held = null;
    this.heldBytes = 0;
    this.res.writeHead(200, this.headers);
    this.cork();
    for (const item of held) {
      if (typeof item === 'string') this.writeText(item);
      else this.sendShared(item);
    }
  }

  private onReply(text: string): void {
    const reply = JSON.parse(text) as { id: number; ok: boolean; payload?: SubscribeResult; error?: { code: string; message: string } };
    const i = reply.id - 1;
    if (!Number.isInteger(i) || i < 0 || i >= this.channels.length) return;
    if (reply.ok && reply.payload) {
      const { epoch, offset, recovered } = reply.payload;
      const since = this.since?.[i];
      // Recovered: the missed publications follow, from the client's own position.
      this.positions[i] = epoch === null || offset === null ? null : recovered && since ? since : { epoch, offset };
      if (this.since !== null && !recovered) this.resets[i] = true;
    } else {
      this.failure ??= reply.error ?? { code: 'internal', message: 'subscribe failed' };
    }
    if (++this.answered < this.channels.length) return;
    if (this.failure === null) {
      this.onSubscribed({ ok: true });
      return;
    }
    // Refused as a whole, as a handshake is: the session ends with the answer.
    this.closeCode = 4003;
    this.closeReason = this.failure.message;
    this.held = null;
    this.heldBytes = 0;
    this.onSubscribed({ ok: false, ...this.failure });
  }

  private writeText(text: string): void {
    const head = HEAD.exec(text.slice(0, HEAD_BYTES));
    const type = head?.[1] ?? 'frame';
    this.cork();
    if (type === 'welcome') {
      const { payload } = JSON.parse(text) as { payload: unknown };
      this.res.write(`id: ${this.cursor()}\nevent: welcome\ndata: ${JSON.stringify(payload)}\n\n`);
      this.channels.forEach((channel, i) => {
        if (this.resets[i]) this.res.write(`event: reset\ndata: ${JSON.stringify({ channel })}\n\n`);
      });
      return;
    }
    // Requests are the stream's own: no failure of one is the client's to see.
    if (type === 'error' || type === 'reply') return;
    const id = head?.[3] !== undefined && head[2] !== undefined ? this.advance(head[2], Number(head[3])) : '';
    this.res.write(`${id}event: ${type}\ndata: ${text}\n\n`);
  }

  /** A message on `channel` at `offset` goes out: its `id:` line, with the new cursor. */
  private advance(channel: string, offset: number): string {
    const i = this.indexOf.get(channel);
    const position = i === undefined ? null : this.positions[i];
    // A channel the URL did not name (a server-side subscription) is not in the cursor.
    if (i === undefined || !position) return '';
    const moved = { epoch: position.epoch, offset };
    this.positions[i] = moved;
    this.parts ??= this.positions.map(encodePosition);
    this.parts[i] = encodePosition(moved);
    return `id: ${joinCursor(this.list, this.parts)}\n`;
  }

  /** The first cursor, once every channel's position is known; kept encoded per channel from then on. */
  private cursor(): string {
    this.parts = this.positions.map(encodePosition);
    return joinCursor(this.list, this.parts);
  }
}

/** The HTTP error for a stream its session closed before it started. */
function refusalOf(code: number, reason: string): { code: string; message: string } {
  if (code === 4001) return { code: 'unauthorized', message: reason };
  if (code === 4003) return { code: 'forbidden', message: reason };
  if (code === 4029) return { code: 'rate_limited', message: reason };
  if (code === 1011) return { code: 'internal', message: reason };
  return { code: 'unavailable', message: reason };
}

/** `retry:` for a close that asks the client to wait: the `retryIn` of a `{"retryIn": ms}` reason. */
function retryHint(_code: number, reason: string): number | null {
  if (!reason.startsWith('{')) return null;
  try {
    const { retryIn } = JSON.parse(reason) as { retryIn?: unknown };
    return typeof retryIn === 'number' && Number.isFinite(retryIn) && retryIn >= 0 ? Math.round(retryIn) : null;
  } catch {
    return null;
  }
}
