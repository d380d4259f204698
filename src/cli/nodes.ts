// `switchboard nodes`: the nodes of a cluster, via GET /api/nodes, which
// arrives with cluster membership; older servers answer 404, said plainly.
import type { Command } from './args.js';
import { ApiError, apiFlags, apiFrom, cell, printJson, printTable } from './api-client.js';

export const nodes: Command = {
  spec: {
    name: 'nodes',
    summary: 'List the nodes of the cluster this server belongs to (HTTP API).',
    args: '',
    positionals: [0, 0],
    flags: apiFlags,
    examples: ['switchboard nodes --api-key dev-key', 'switchboard nodes --json --url http://10.0.0.5:8080'],
  },
  async run({ values }) {
    let answer: { nodes: Record<string, unknown>[] };
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
    const keys = [...new Set(answer.nodes.flatMap((n) => Object.keys(n)))];
    printTable(
      keys,
      answer.nodes.map((n) => keys.map((k) => cell(n[k]))),
    );
  },
};
