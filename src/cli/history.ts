// `switchboard history CHANNEL`: a channel's recent publications via GET /api/history.
import { numberFlag, type Command } from './args.js';
import { apiFlags, apiFrom, cell, printJson, printTable } from './api-client.js';
import { safeFor } from './terminal-safe.js';

interface HistoryAnswer {
  epoch: string;
  offset: number;
  publications: { offset: number; payload: unknown; from?: unknown }[];
  truncated?: boolean;
}

export const history: Command = {
  spec: {
    name: 'history',
    summary: 'Show the recent publications of a channel (HTTP API).',
    args: 'CHANNEL',
    positionals: [1, 1],
    flags: { ...apiFlags, limit: { type: 'string', value: 'N', default: '100', help: 'at most this many publications' } },
    examples: [
      'switchboard history news --api-key dev-key',
      'switchboard history chat:lobby --limit 10 --json --url http://10.0.0.5:8080 --api-key "$API_KEY"',
    ],
  },
  async run({ values, positionals }) {
    const limit = numberFlag(values, 'limit', { min: 1 });
    const answer = (await apiFrom(values).get('/api/history', { channel: positionals[0], limit: String(limit) })) as HistoryAnswer;
    if (values.json) return printJson(answer);
    const position = safeFor(process.stdout)(`epoch ${answer.epoch}, latest offset ${answer.offset}`);
    process.stdout.write(`${position}${answer.truncated ? ' (truncated to the reply limit)' : ''}\n`);
    printTable(
      ['offset', 'from', 'payload'],
      answer.publications.map((p) => [String(p.offset), cell((p.from as { user?: unknown } | undefined)?.user ?? p.from), cell(p.payload)]),
    );
  },
};
