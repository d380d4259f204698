// `switchboard stats`: connections, channels and message rates per node, via GET /api/stats.
import type { ClusterStats } from '../protocol/stats.js';
import type { Command } from './args.js';
import { apiFlags, apiFrom, cell, printJson, printTable } from './api-client.js';

export const stats: Command = {
  spec: {
    name: 'stats',
    summary: 'Show connections, channels and message rates of each node (HTTP API).',
    args: '',
    positionals: [0, 0],
    flags: apiFlags,
    examples: ['switchboard stats --api-key dev-key', 'watch -n1 switchboard stats --url http://127.0.0.1:8080 --api-key dev-key'],
  },
  async run({ values }) {
    const answer = (await apiFrom(values).get('/api/stats')) as ClusterStats;
    if (values.json) return printJson(answer);
    const rateKeys = ['received', 'publications', 'delivered'] as const;
    printTable(
      ['node', 'broker', 'connections', 'channels', 'uptime', ...rateKeys.map((k) => `${k}/s`)],
      answer.nodes.map((n) => [
        n.node,
        n.broker,
        String(n.connections),
        String(n.channels),
        `${Math.round(n.uptime)}s`,
        ...rateKeys.map((k) => cell(n.rates[k])),
      ]),
    );
  },
};
