// `switchboard connect URL`: a raw protocol console. Every frame received is
// printed as one JSON line; every line of standard input is sent as a frame.
// When input ends, it waits for the answer to one last ping, then closes.
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';

export async function connect(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { token: { type: 'string' }, subscribe: { type: 'string' } },
    allowPositionals: true,
    strict: true,
  });
  const [url] = positionals;
  if (!url) throw new Error('usage: switchboard connect ws://HOST:PORT/ws [--token T] [--subscribe a,b]');
  const headers: Record<string, string> = values.token ? { Authorization: `Bearer ${values.token}` } : {};
  const ws = new WebSocket(url, 'switchboard.v1.json', { headers });
  const EOF_PING = 'connect-eof';

  ws.on('unexpected-response', (_req, res) => {
    let body = '';
    res.on('data', (chunk) => (body += chunk));
    res.on('end', () => {
      process.stderr.write(`refused: ${res.statusCode} ${body}\n`);
      process.exit(1);
    });
  });
  ws.on('error', (error) => {
    process.stderr.write(`error: ${error.message}\n`);
    process.exit(1);
  });
  ws.on('message', (data) => {
    const text = data.toString();
    process.stdout.write(`${text}\n`);
    const frame = JSON.parse(text) as { type: string; id?: unknown };
    if (frame.type === 'welcome') {
      for (const channel of values.subscribe?.split(',').filter(Boolean) ?? []) {
        ws.send(JSON.stringify({ type: 'subscribe', channel }));
      }
    }
    if (frame.type === 'pong' && frame.id === EOF_PING) ws.close(1000, 'input ended');
  });
  ws.on('close', (code, reason) => {
    process.stderr.write(`closed: ${code} ${reason.toString()}\n`);
    process.exit(code === 1000 ? 0 : 1);
  });
  await new Promise((resolve) => ws.once('open', resolve));
  const lines = createInterface({ input: process.stdin });
  lines.on('line', (line) => line.trim() && ws.send(line));
  lines.on('close', () => ws.send(JSON.stringify({ type: 'ping', id: EOF_PING })));
}
