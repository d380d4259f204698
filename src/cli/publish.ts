// `switchboard publish CHANNEL [JSON]`: publish through the HTTP API. The
// payload must be JSON (a typo is an error, not a string); --raw sends text
// as a string on purpose. Without JSON, or with `-`, it reads standard input.
import { createInterface } from 'node:readline';
import { UsageError, type Command } from './args.js';
import { ApiError, apiFlags, apiFrom, type Api } from './api-client.js';
import { safeFor } from './terminal-safe.js';

export const publish: Command = {
  spec: {
    name: 'publish',
    summary: 'Publish a JSON payload on a channel (HTTP API); the payload comes from the argument or standard input.',
    args: 'CHANNEL [JSON|-]',
    positionals: [1, 2],
    flags: {
      url: apiFlags.url!,
      'api-key': apiFlags['api-key']!,
      raw: { type: 'boolean', help: 'send the text as a JSON string instead of parsing it' },
      lines: {
        type: 'boolean',
        help: 'read standard input line by line: one publication per non-empty line; a bad line is named on stderr and skipped (exit 1 at the end)',
      },
    },
    notes: 'Prints the API\'s answer, {"offset":N}, one line per publication.',
    examples: [
      'switchboard publish news \'{"headline":"hi"}\' --api-key dev-key',
      'switchboard publish alerts --raw "disk almost full" --api-key dev-key',
      'tail -F events.jsonl | SWITCHBOARD_API_KEY=dev-key switchboard publish events --lines',
    ],
  },
  async run({ values, positionals }) {
    const [channel, argument] = positionals as [string, string | undefined];
    const api = apiFrom(values);
    const raw = values.raw === true;
    const fromStdin = argument === undefined || argument === '-';
    if (values.lines) {
      if (!fromStdin) throw new UsageError('--lines reads standard input: drop the JSON argument or pass -');
      if ((await publishLines(api, channel, raw)) > 0) process.exitCode = 1;
      return;
    }
    const text = fromStdin ? await readStdin() : argument;
    await send(api, channel, payloadOf(fromStdin && !raw ? text.trim() : text.replace(/\n$/, ''), raw, fromStdin ? 'standard input' : 'payload'));
  },
};

/**
 * One publication per non-empty line, in order. A line that is not JSON, or
 * that the API refuses for itself (400, 413, 429...), is named on stderr and
 * skipped, so `tail -F log | switchboard publish --lines` outlives a bad line;
 * a refused key or an unreachable server stops it. Resolves to the lines skipped.
 */
async function publishLines(api: Api, channel: string, raw: boolean): Promise<number> {
  const err = safeFor(process.stderr);
  let line = 0;
  let skipped = 0;
  for await (const text of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
    line += 1;
    if (text.trim() === '') continue;
    try {
      await send(api, channel, payloadOf(text, raw, `line ${line}`));
    } catch (error) {
      const perLine = error instanceof UsageError || (error instanceof ApiError && error.status !== 401 && error.status !== 403);
      if (!perLine) throw error;
      skipped += 1;
      const reason = error instanceof UsageError ? error.message : `line ${line} refused: ${error.message}`;
      process.stderr.write(`switchboard publish: ${err(reason)}; skipped\n`);
    }
  }
  return skipped;
}

function payloadOf(text: string, raw: boolean, where: string): unknown {
  if (raw) return text;
  if (text.trim() === '') throw new UsageError(`${where} is empty: give a JSON payload (null for none)`);
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new UsageError(`${where} is not JSON (${(error as Error).message}); use --raw to send it as a string`);
  }
}

async function send(api: Api, channel: string, payload: unknown): Promise<void> {
  process.stdout.write(`${safeFor(process.stdout)(JSON.stringify(await api.post('/api/publish', { channel, payload })))}\n`);
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
