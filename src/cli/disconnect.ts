// `switchboard disconnect`: close a user's or a client's connections, via POST /api/disconnect.
import { numberFlag, UsageError, type Command } from './args.js';
import { apiFlags, apiFrom, printJson } from './api-client.js';
import { safeFor } from './terminal-safe.js';

export const disconnect: Command = {
  spec: {
    name: 'disconnect',
    summary: 'Close every connection of a user, or one client, with a close code (HTTP API).',
    args: '',
    positionals: [0, 0],
    flags: {
      ...apiFlags,
      user: { type: 'string', value: 'USER', help: 'every connection of this user' },
      client: { type: 'string', value: 'ID', help: 'the connection with this client id' },
      code: { type: 'string', value: 'CODE', default: '4003', help: 'close code, 4000-4999 (4003: do not reconnect; 4000: reconnect)' },
      reason: { type: 'string', value: 'TEXT', help: 'close reason, at most 120 characters' },
    },
    examples: [
      'switchboard disconnect --user 42 --api-key dev-key',
      'switchboard disconnect --client 6f1c… --code 4000 --reason "moving you to another node" --api-key dev-key',
    ],
  },
  async run({ values }) {
    if ((values.user === undefined) === (values.client === undefined)) throw new UsageError('give exactly one of --user or --client');
    const code = numberFlag(values, 'code', { min: 4000 });
    if (code > 4999) throw new UsageError(`--code: expected 4000-4999, got ${code}`);
    const answer = (await apiFrom(values).post('/api/disconnect', {
      ...(values.user !== undefined ? { user: values.user } : { client: values.client }),
      code,
      ...(values.reason !== undefined ? { reason: values.reason } : {}),
    })) as { disconnected: number };
    if (values.json) return printJson(answer);
    process.stdout.write(`disconnected ${safeFor(process.stdout)(String(answer.disconnected))} connection(s) with ${code}\n`);
  },
};
