// `switchboard connect` on a terminal: a prompt with line history, slash
// commands for the protocol's requests, and coloured frames above the prompt.
import { appendFileSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describeClose, painter, prettyFrame } from './format.js';
import { openSession, type SessionOptions } from './session.js';
import { escapeControls as data } from '../terminal-safe.js';

const HISTORY_FILE = join(homedir(), '.switchboard_history');
const HISTORY_SIZE = 500;

const HELP = `commands:
  /sub CHANNEL [EPOCH:OFFSET]   subscribe, optionally resuming after a position
  /unsub CHANNEL                unsubscribe
  /pub CHANNEL JSON             publish
  /rpc METHOD [JSON]            call a server method
  /history CHANNEL [LIMIT]      recent publications
  /presence CHANNEL             who is subscribed
  /ping                         ask for a pong
  {"type":...}                  send a frame as typed
  /quit (or Ctrl-D)             close with 1000 and exit`;

function loadHistory(): string[] {
  try {
    return readFileSync(HISTORY_FILE, 'utf8').split('\n').filter(Boolean).reverse().slice(0, HISTORY_SIZE);
  } catch {
    return [];
  }
}

export function interactive(options: SessionOptions): Promise<void> {
  const paint = painter(process.stdout.hasColors?.() === true && !process.env.NO_COLOR);
  const rl = createInterface({
    input: process.stdin,
    output: process.stdout,
    history: loadHistory(),
    historySize: HISTORY_SIZE,
    prompt: paint('dim', 'switchboard> '),
  });
  let nextId = 1;
  let closing = false;
  // Print above the prompt and redraw it with what was being typed.
  const show = (line: string) => {
    process.stdout.write(`\r\x1b[K${line}\n`);
    rl.prompt(true);
  };
  // Lines typed before the first welcome wait for it.
  let queued: (() => void)[] | null = [];
  const session = openSession(options, {
    frame(frame) {
      show(prettyFrame(paint, 'in', frame));
      if ((frame as { type?: string }).type === 'welcome' && queued) {
        const waiting = queued;
        queued = null;
        waiting.forEach((send) => send());
      }
    },
    refused(status, body) {
      show(paint('red', `refused: ${status} ${data(body)}`));
      process.exit(1);
    },
    notice: (line) => show(paint('yellow', `* ${data(line)}`)),
    closed(code, reason) {
      process.stdout.write(`\r\x1b[K${paint(code === 1000 ? 'dim' : 'red', describeClose(code, data(reason)))}\n`);
      process.exit(code === 1000 || closing ? 0 : 1);
    },
    error(message) {
      show(paint('red', `error: ${data(message)}`));
      process.exit(1);
    },
  });
  const quit = () => {
    if (closing) return;
    closing = true;
    session.close(1000, 'bye');
    setTimeout(() => process.exit(0), 2_000).unref();
  };
  const send = (frame: Record<string, unknown>, text?: string) => {
    if (queued) {
      queued.push(() => send(frame, text));
      return show(paint('dim', 'queued until connected'));
    }
    if (session.send(frame, text)) show(prettyFrame(paint, 'out', frame));
    else show(paint('red', 'not sent: not connected'));
  };
  const json = (text: string | undefined, fallback: unknown): unknown => {
    if (text === undefined || text.trim() === '') return fallback;
    return JSON.parse(text);
  };

  rl.on('line', (line) => {
    const input = line.trim();
    if (input) appendHistory(input);
    try {
      if (input === '') rl.prompt();
      else if (input.startsWith('{')) send(JSON.parse(input) as Record<string, unknown>, input);
      else if (input.startsWith('/')) command(input);
      else show(paint('red', 'type a /command or a {"type":...} frame; /help lists them'));
    } catch (error) {
      show(paint('red', (error as Error).message));
    }
  });
  rl.on('close', quit); // Ctrl-D
  rl.on('SIGINT', quit); // Ctrl-C
  process.on('SIGTERM', quit);

  function command(input: string) {
    const [name, first, ...rest] = input.split(/\s+/);
    const tail = input.slice(input.indexOf(first ?? '') + (first?.length ?? 0)).trim() || undefined;
    const need = (value: string | undefined, what: string) => {
      if (!value) throw new Error(`${name} needs ${what}`);
      return value;
    };
    switch (name) {
      case '/sub': {
        const since = rest[0];
        const colon = since?.lastIndexOf(':') ?? -1;
        const position = since && colon > 0 ? { epoch: since.slice(0, colon), offset: Number(since.slice(colon + 1)) } : undefined;
        return send({ type: 'subscribe', id: nextId++, channel: need(first, 'a channel'), ...(position ? { since: position } : {}) });
      }
      case '/unsub':
        return send({ type: 'unsubscribe', id: nextId++, channel: need(first, 'a channel') });
      case '/pub':
        return send({ type: 'publish', id: nextId++, channel: need(first, 'a channel'), payload: json(need(tail, 'a JSON payload'), null) });
      case '/rpc':
        return send({ type: 'rpc', id: nextId++, method: need(first, 'a method'), payload: json(tail, null) });
      case '/history':
        return send({ type: 'history', id: nextId++, channel: need(first, 'a channel'), ...(rest[0] ? { limit: Number(rest[0]) } : {}) });
      case '/presence':
        return send({ type: 'presence', id: nextId++, channel: need(first, 'a channel') });
      case '/ping':
        return send({ type: 'ping', id: nextId++ });
      case '/help':
        return show(HELP);
      case '/quit':
      case '/exit':
        return quit();
      default:
        throw new Error(`unknown command ${name}; /help lists them`);
    }
  }

  show(paint('dim', `connecting to ${options.url}${options.reconnect ? ' (reconnecting)' : ''}; /help for commands`));
  return new Promise(() => {});
}

function appendHistory(line: string): void {
  try {
    appendFileSync(HISTORY_FILE, `${line}\n`, { mode: 0o600 });
  } catch {
    // history is a convenience; a read-only home must not stop the session
  }
}
