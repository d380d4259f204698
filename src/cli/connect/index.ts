// `switchboard connect URL`: a protocol console. On a terminal, an interactive
// session with slash commands and pretty frames; piped, JSON lines in and out,
// open until the server closes or a signal arrives.
import { createInterface } from 'node:readline';
import type { StreamPosition } from '../../protocol/frames.js';
import { type Command, headerFlags, type Parsed, UsageError } from '../args.js';
import { describeClose } from './format.js';
import { interactive } from './interactive.js';
import { openSession, type SessionOptions } from './session.js';
import { safeFor } from '../terminal-safe.js';

export const connect: Command = {
  spec: {
    name: 'connect',
    summary: 'Open a WebSocket to a server: an interactive console on a terminal, JSON lines in and out when piped.',
    args: 'URL',
    positionals: [1, 1],
    flags: {
      token: { type: 'string', value: 'JWT', env: true, help: 'send "Authorization: Bearer JWT"' },
      header: { type: 'string', value: "'NAME: VALUE'", multiple: true, help: 'extra handshake header' },
      origin: { type: 'string', value: 'ORIGIN', help: 'send this Origin header (browsers always do)' },
      msgpack: { type: 'boolean', help: 'speak switchboard.v1.msgpack (frames are still shown and typed as JSON)' },
      subscribe: { type: 'string', value: 'A,B', help: 'subscribe to these channels after the welcome' },
      since: { type: 'string', value: 'EPOCH:OFFSET', help: 'with --subscribe: resume after this position (recovery)' },
      reconnect: { type: 'boolean', help: "reconnect with the SDK's backoff, resubscribing and recovering; each reset is printed" },
      json: { type: 'boolean', help: 'JSON lines even on a terminal' },
      'close-on-eof': { type: 'boolean', help: 'piped: when input ends, wait for the answers to what was sent, then close' },
    },
    notes: [
      'Interactive commands: /sub CH [EPOCH:OFFSET], /unsub CH, /pub CH JSON, /rpc METHOD [JSON], /history CH [LIMIT],',
      '/presence CH, /ping, /quit; a line starting with { is sent as a frame. Piped, each input line is a frame and each',
      "frame received is one line on stdout, in the order the server finished them (a publish's reply can follow a later",
      "line's error or pong: match answers by id); notices and the close code go to stderr. Exit 0 after a 1000 close or a",
      'signal, 1 after any other close or a refused handshake.',
    ].join('\n'),
    examples: [
      'switchboard connect ws://127.0.0.1:8080/ws --subscribe news',
      'switchboard connect wss://example.com/ws --token "$JWT" --subscribe chat:lobby --since 4fa1c2:41 --reconnect --json > chat.jsonl',
      'echo \'{"type":"publish","id":1,"channel":"news","payload":"hi"}\' | switchboard connect ws://127.0.0.1:8080/ws --close-on-eof',
    ],
  },
  async run(parsed) {
    const options = sessionOptions(parsed);
    if (process.stdin.isTTY && process.stdout.isTTY && !parsed.values.json) return interactive(options);
    return piped(options, parsed.values['close-on-eof'] === true);
  },
};

function sessionOptions({ values, positionals }: Parsed): SessionOptions {
  let url: URL;
  try {
    url = new URL(positionals[0]!);
  } catch {
    throw new UsageError(`not a URL: '${positionals[0]}' (like ws://127.0.0.1:8080/ws)`);
  }
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') throw new UsageError(`URL must start with ws:// or wss://, got '${url.protocol}'`);
  const headers = headerFlags(values);
  const subscribe = ((values.subscribe as string | undefined) ?? '')
    .split(',')
    .map((c) => c.trim())
    .filter(Boolean);
  if (values.since !== undefined && subscribe.length === 0) throw new UsageError('--since needs --subscribe');
  return {
    url: url.href,
    headers,
    ...(values.origin ? { origin: values.origin as string } : {}),
    msgpack: values.msgpack === true,
    reconnect: values.reconnect === true,
    subscribe,
    ...(values.since !== undefined ? { since: parsePosition(values.since as string, '--since') } : {}),
  };
}

export function parsePosition(text: string, what: string): StreamPosition {
  const colon = text.lastIndexOf(':');
  const offset = Number(text.slice(colon + 1));
  if (colon <= 0 || !/^\d+$/.test(text.slice(colon + 1)) || !Number.isSafeInteger(offset)) {
    throw new UsageError(`${what}: expected EPOCH:OFFSET, got '${text}'`);
  }
  return { epoch: text.slice(0, colon), offset };
}

/** JSON for frames decoded from MessagePack: bytes as {"$bytes": base64}. */
export function frameJson(frame: unknown): string {
  return JSON.stringify(frame, (_key, value: unknown) => (value instanceof Uint8Array ? { $bytes: Buffer.from(value).toString('base64') } : value));
}

/** The ping --close-on-eof sends once every answer is in; its pong is the console's own and is not printed. */
const EOF_PING = 'connect:eof';

/**
 * Piped: frames are printed in the order they arrive, which is the order the
 * server finished them, not the order they were sent (a publish's reply waits
 * for the broker; an error for a malformed line or a pong is immediate):
 * match answers by id. --close-on-eof waits for an answer to every id sent,
 * then for the pong of its own ping (so an answer without an id, to a
 * malformed line, is in too), then closes with 1000.
 */
function piped(options: SessionOptions, closeOnEof: boolean): Promise<void> {
  // What the server sent, escaped if a terminal shows it (--json, or piped input).
  const out = safeFor(process.stdout);
  const err = (line: string) => process.stderr.write(`${safeFor(process.stderr)(line)}\n`);
  /** Ids sent and not yet answered, as JSON (the --reconnect console prefixes integer ids with cli:). */
  const awaiting = new Set<string>();
  let inputEnded = false;
  const idKey = (id: unknown) => JSON.stringify(options.reconnect && typeof id === 'number' ? `cli:${id}` : id);
  const closeWhenAnswered = () => {
    if (closeOnEof && inputEnded && awaiting.size === 0) session.send({ type: 'ping', id: EOF_PING });
  };
  let session: ReturnType<typeof openSession>;
  return new Promise((_resolve) => {
    let closing = false;
    session = openSession(options, {
      frame(frame, text) {
        const f = frame as { type?: string; id?: unknown };
        if (f.type === 'pong' && (f.id === EOF_PING || f.id === `cli:${EOF_PING}`)) return stop();
        process.stdout.write(`${out(text ?? frameJson(frame))}\n`);
        if (f.type === 'welcome') lines.resume();
        if (f.id !== undefined && f.type !== 'welcome' && awaiting.delete(JSON.stringify(f.id))) closeWhenAnswered();
      },
      refused(status, body) {
        err(`refused: ${status} ${body}`);
        process.exit(1);
      },
      notice: err,
      closed(code, reason) {
        err(describeClose(code, reason));
        process.exit(code === 1000 || closing ? 0 : 1);
      },
      error(message) {
        err(`error: ${message}`);
        process.exit(1);
      },
    });
    const stop = () => {
      if (closing) return;
      closing = true;
      session.close(1000, 'client done');
      // A server that never answers the close must not keep us here.
      setTimeout(() => process.exit(0), 2_000).unref();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    // Input waits for the welcome, so the first lines are not lost while connecting.
    const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
    lines.pause();
    lines.on('line', (line) => {
      if (line.trim() === '') return;
      let frame: Record<string, unknown>;
      try {
        frame = JSON.parse(line) as Record<string, unknown>;
      } catch (error) {
        if (options.msgpack || options.reconnect) {
          err(`not sent, not JSON: ${(error as Error).message}`);
          return;
        }
        frame = {}; // raw JSON mode sends what was typed; the server answers bad_request
      }
      if (!session.send(frame, line)) process.stderr.write('not sent: not connected\n');
      // With --reconnect, subscribe and unsubscribe go through the SDK under its own ids.
      else if (frame.id !== undefined && !(options.reconnect && (frame.type === 'subscribe' || frame.type === 'unsubscribe'))) awaiting.add(idKey(frame.id));
    });
    lines.on('close', () => {
      inputEnded = true;
      closeWhenAnswered();
    });
  });
}
