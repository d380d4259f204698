// Operator commands against a real server: history, presence, stats, nodes,
// disconnect over the HTTP API; check-config and check-token offline.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { killChildren, tool } from '../helpers/cli.js';
import { RawClient } from '../helpers/raw-client.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { SECRET, sign } from '../helpers/tokens.js';

let srv: TestServer;
beforeAll(async () => {
  srv = await startServer({
    apiKey: 'k',
    jwtSecret: SECRET,
    namespaces: { '': { subscribe: 'anyone', publish: 'anyone', history: { size: 10, ttl: 60_000 } }, chat: { presence: true } },
  });
});
afterAll(() => srv.close());
afterEach(killChildren);

const cli = (args: string[]) => tool([...args, '--api-key', 'k', '--url', srv.url]).exited;

describe('over the HTTP API', () => {
  it('history prints a table, or the JSON with --json', async () => {
    await srv.server.publish('news', { headline: 'one' });
    await srv.server.publish('news', { headline: 'two' });
    const table = await cli(['history', 'news']);
    expect(table.code).toBe(0);
    const lines = table.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^epoch \S+, latest offset 2$/);
    expect(lines[1]).toMatch(/^offset\s+from\s+payload$/);
    expect(lines[2]).toMatch(/^1\s+-\s+\{"headline":"one"\}$/);
    const json = JSON.parse((await cli(['history', 'news', '--limit', '1', '--json'])).stdout);
    expect(json.publications).toEqual([{ offset: 2, payload: { headline: 'two' } }]);
  });

  it('presence lists clients; disconnect closes them with the code', async () => {
    const client = await RawClient.connect(`${srv.wsUrl}?token=${await sign({ sub: 'ann', info: { name: 'Ann' } })}`);
    client.send({ type: 'subscribe', id: 1, channel: 'chat:lobby' });
    await client.next((f) => f.type === 'reply');
    const presence = await cli(['presence', 'chat:lobby']);
    expect(presence.code).toBe(0);
    expect(presence.stdout).toMatch(/^client\s+user\s+info\n\S+\s+ann\s+\{"name":"Ann"\}\n1 client\(s\)\n$/);
    const gone = await cli(['disconnect', '--user', 'ann', '--code', '4000', '--reason', 'maintenance']);
    expect(gone.stdout).toBe('disconnected 1 connection(s) with 4000\n');
    expect(await client.closed).toMatchObject({ code: 4000 });
    expect((await cli(['disconnect', '--user', 'ann', '--code', '1000'])).stderr).toBe(
      "switchboard disconnect: --code: expected an integer ≥ 4000, got '1000'\n",
    );
  });

  it('stats prints one row per node', async () => {
    const { code, stdout } = await cli(['stats']);
    expect(code).toBe(0);
    const [header, row] = stdout.trim().split('\n');
    expect(header).toMatch(/^node\s+broker\s+connections\s+channels\s+uptime/);
    expect(row).toMatch(/^\S+\s+memory\s+\d+\s+\d+\s+\d+s/);
    expect(JSON.parse((await cli(['stats', '--json'])).stdout).nodes).toHaveLength(1);
  });

  it('nodes lists the live nodes as a short table (the lists only in --json), and as JSON', async () => {
    const table = await cli(['nodes']);
    expect(table.code).toBe(0);
    const [header, row, ...more] = table.stdout.trim().split('\n');
    expect(header).toMatch(/^node\s+address\s+pid\s+version\s+broker\s+connections\s+subscriptions\s+channels\s+uptime\s+started$/);
    expect(row).toMatch(
      new RegExp(`^${srv.server.operations.nodeId}\\s+127\\.0\\.0\\.1:\\d+\\s+\\d+\\s+\\S+\\s+memory\\s+\\d+\\s+\\d+\\s+\\d+\\s+\\d+s\\s+\\d{4}-`),
    );
    expect(more).toEqual([]);
    // No raw JSON in the cells: the busiest channels and disconnects are for --json.
    expect(table.stdout).not.toMatch(/[{[]/);
    expect(row!.length).toBeLessThan(200);
    const json = await cli(['nodes', '--json']);
    expect(JSON.parse(json.stdout).nodes.map((n: { node: string }) => n.node)).toEqual([srv.server.operations.nodeId]);
  });

  it("a wrong key is the API's 403 in one line, exit 1; a missing channel a 400", async () => {
    const wrong = await tool(['stats', '--api-key', 'nope', '--url', srv.url]).exited;
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toBe('switchboard stats: 403 forbidden: a valid "Authorization: apikey <key>" header is required\n');
    const bad = await cli(['presence', 'bad channel']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('400 bad_request');
  });
});

describe('check-config', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sb-cli-'));
  const file = (name: string, body: string) => {
    const path = join(dir, name);
    writeFileSync(path, body);
    return path;
  };

  it('prints the effective config with defaults, secrets masked', async () => {
    const { code, stdout } = await tool(['check-config', file('ok.json', '{"port":9000,"apiKey":"s3cret","limits":{"burst":50}}')]).exited;
    expect(code).toBe(0);
    const config = JSON.parse(stdout);
    expect(config).toMatchObject({
      port: 9000,
      host: '127.0.0.1',
      path: '/ws',
      apiKey: '(set, 6 characters)',
      limits: { burst: 50, messagesPerSecond: 100, connectionsPerIp: 1000 },
    });
    expect(stdout).not.toContain('s3cret');
    const secret = 'whsec_BK0uydnzDFWrjc0lxQhoSwCMJoyk84VL';
    const proxied = await tool(['check-config', file('proxy.json', JSON.stringify({ proxy: { secret } }))]).exited;
    expect(JSON.parse(proxied.stdout).proxy.secret).toBe('(set, 38 characters)');
    expect(proxied.stdout).not.toContain(secret);
  });

  it('names each bad key, exit 2', async () => {
    const { code, stdout, stderr } = await tool(['check-config', file('bad.json', '{"limits":{"burst":"many"},"colour":"red"}')]).exited;
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/^switchboard check-config: invalid config: .*limits\.burst.*colour: unknown key\n$/);
    const notJson = await tool(['check-config', file('broken.json', '{port:')]).exited;
    expect(notJson.code).toBe(2);
    expect(notJson.stderr).toContain('is not valid JSON');
  });
});

describe('check-token', () => {
  it('prints header, claims and expiry of a valid token', async () => {
    const token = await sign({ sub: 'ann', channels: ['chat:*'] }, { expiresIn: 600 });
    const { code, stdout } = await tool(['check-token', token, '--jwt-secret', SECRET]).exited;
    expect(code).toBe(0);
    expect(stdout).toMatch(/^header  \{"alg":"HS256"\}\n/);
    expect(stdout).toMatch(/claims  \{.*"sub":"ann".*\}/);
    expect(stdout).toMatch(/expiry  \d{4}-\d\d-\d\dT.* \(in (9m 5\d|10m 0)s?/);
    expect(stdout).toContain('valid   user ann, channels ["chat:*"]');
  });

  it('reads the secret from a config file and the token from stdin', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-cli-'));
    writeFileSync(join(dir, 'c.json'), JSON.stringify({ jwtSecret: SECRET }));
    const { code, stdout } = await tool(['check-token', '-', '--config', join(dir, 'c.json')], { stdin: `${await sign({ sub: 'bo' })}\n` }).exited;
    expect(code).toBe(0);
    expect(stdout).toContain('valid   user bo');
  });

  it.each([
    ['expired', () => sign({ sub: 'ann' }, { expiresIn: -60 }), /refused: unauthorized: .*expired/],
    ['badly signed', () => sign({ sub: 'ann' }, { secret: 'another-secret-entirely-here' }), /refused: unauthorized: /],
    ['without sub', () => sign({}), /refused: unauthorized: token has no sub claim/],
  ])('an %s token: claims, then the reason, exit 1', async (_name, make, reason) => {
    const { code, stdout, stderr } = await tool(['check-token', await make(), '--jwt-secret', SECRET]).exited;
    expect(code).toBe(1);
    expect(stdout).toContain('claims');
    expect(stderr).toMatch(reason);
  });

  it('says what is missing', async () => {
    expect((await tool(['check-token', 'x.y.z'], { env: { SWITCHBOARD_JWT_SECRET: '', SWITCHBOARD_JWKS: '', SWITCHBOARD_CONFIG: '' } }).exited).stderr).toBe(
      'switchboard check-token: give --jwt-secret, --jwks or --config with one of them\n',
    );
    const garbage = await tool(['check-token', 'garbage', '--jwt-secret', SECRET]).exited;
    expect(garbage.code).toBe(1);
    expect(garbage.stderr).toMatch(/^switchboard check-token: not a JWT: /);
  });
});
