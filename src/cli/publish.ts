// `switchboard publish CHANNEL PAYLOAD`: publish through the HTTP API.
import { parseArgs } from 'node:util';
import { envName } from './options.js';

export async function publish(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { url: { type: 'string' }, 'api-key': { type: 'string' } },
    allowPositionals: true,
    strict: true,
  });
  const [channel, text] = positionals;
  const apiKey = values['api-key'] ?? process.env[envName('api-key')];
  const url = values.url ?? process.env[envName('url')] ?? 'http://127.0.0.1:8080';
  if (!channel || text === undefined || !apiKey) {
    throw new Error('usage: switchboard publish CHANNEL PAYLOAD_JSON --api-key K [--url http://127.0.0.1:8080]');
  }
  let payload: unknown;
  try {
    payload = JSON.parse(text);
  } catch {
    payload = text; // a bare word is published as a string
  }
  const response = await fetch(new URL('/api/publish', url), {
    method: 'POST',
    headers: { Authorization: `apikey ${apiKey}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ channel, payload }),
  });
  const body = await response.text();
  if (!response.ok) throw new Error(`${response.status}: ${body}`);
  process.stdout.write(`${body}\n`);
}
