// `switchboard nodes`: the nodes of a cluster, via GET /api/nodes, which
// arrives with cluster membership; older servers answer 404, said plainly.
// The table has one short column per figure an operator scans for; the lists
// (busiest channels, disconnects) and the rest are in --json.
import type { NodeStats } from '../protocol/stats.js';
import type { Command } from './args.js';
import { ApiError, apiFlags, apiFrom, cell, printJson, printTable } from './api-client.js';

export const nodes: Command = {
  spec: {
    name: 'nodes',
    summary: 'List the nodes of the cluster this server belongs to (HTTP API).',
    args: '',
    positionals: [0, 0],
    flags: apiFlags,
    examples: ['switchboard nodes --api-key dev-key', 'switchboard nodes --json --url http://10.0.0.5:8080 --api-key "$API_KEY"'],
  },
  async run({ values }) {
    let answer: { nodes: Partial<NodeStats>[] };
    try {
      answer = (await apiFrom(values).get('/api/nodes')) as typeof answer;
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) {
        throw new Error('this server has no GET /api/nodes (a version without cluster membership); `switchboard stats` shows the nodes it can reach', {
          cause: error,
        });
      }
      throw error;
    }
    if (values.json) return printJson(answer);
    printTable(
      ['node', 'address', 'pid', 'version', 'broker', 'connections', 'subscriptions', 'channels', 'uptime', 'started'],
      answer.nodes.map((n) => [
        cell(n.node),
        cell(n.address === null ? '(attached)' : n.address),
        cell(n.pid),
        cell(n.version),
        cell(n.broker),
        cell(n.connections),
        cell(n.subscriptions),
        cell(n.channels),
        n.uptime === undefined ? '-' : `${Math.round(n.uptime)}s`,
        cell(n.startedAt),
      ]),
    );
  },
};
