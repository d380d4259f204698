// `switchboard presence CHANNEL`: who is subscribed, via GET /api/presence.
import type { Command } from './args.js';
import { apiFlags, apiFrom, cell, printJson, printTable } from './api-client.js';
import { safeFor } from './terminal-safe.js';

interface PresenceAnswer {
  clients: { client: string; user: string | null; info: unknown }[];
  truncated?: boolean;
}

export const presence: Command = {
  spec: {
    name: 'presence',
    summary: 'List the clients subscribed to a channel with presence (HTTP API).',
    args: 'CHANNEL',
    positionals: [1, 1],
    flags: apiFlags,
    examples: ['switchboard presence chat:lobby --api-key dev-key', "switchboard presence chat:lobby --api-key dev-key --json | jq '.clients | length'"],
  },
  async run({ values, positionals }) {
    const answer = (await apiFrom(values).get('/api/presence', { channel: positionals[0] })) as PresenceAnswer;
    if (values.json) return printJson(answer);
    printTable(
      ['client', 'user', 'info'],
      answer.clients.map((c) => [c.client, cell(c.user), cell(c.info)]),
    );
    process.stdout.write(`${safeFor(process.stdout)(String(answer.clients.length))} client(s)${answer.truncated ? ', truncated to the reply limit' : ''}\n`);
  },
};
