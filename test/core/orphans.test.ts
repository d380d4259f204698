// A dead node's presence entries, handed to this node by its broker
// (docs/scaling.md, "Nodes and ghosts"): the core sends their `leave` events,
// and in a per-user namespace only for users with no connection left.
import { expect, it } from 'vitest';
import { MemoryBroker } from '../../src/brokers/memory.js';
import { jsonCodec } from '../../src/protocol/codec.js';
import { ANONYMOUS } from '../../src/server/auth.js';
import { parseConfig } from '../../src/server/config.js';
import { inside, makeCore, sessionOf } from './harness.js';
import { FakeTransport } from '../helpers/fake-transport.js';

const turn = () => new Promise((resolve) => setImmediate(resolve));

async function watched(joinLeave: true | 'user') {
  const core = makeCore(parseConfig({ namespaces: { team: { presence: true, joinLeave } } }), new MemoryBroker());
  await core.start();
  const transport = new FakeTransport();
  const session = sessionOf(core.open(transport, { identity: ANONYMOUS, codec: jsonCodec, ip: '127.0.0.1' }));
  core.message(session, Buffer.from(JSON.stringify({ type: 'subscribe', id: 1, channel: 'team:a' })), false);
  await turn();
  const leaves = () =>
    transport
      .frames()
      .filter((f) => f.type === 'leave')
      .map((f) => f.payload.client);
  return { core, leaves };
}

const ann = { client: 'ann-on-dead-node', user: 'ann', info: null };
const bob = { client: 'bob-on-dead-node', user: 'bob', info: null };

it('per user: sends a leave only for the orphan whose user has no connection left', async () => {
  const { core, leaves } = await watched('user');
  // Ann still has a connection elsewhere (1 left); Bob had only this one.
  await inside(core).hub.announceOrphans('team:a', [ann, bob], [1, 0]);
  await turn();
  expect(leaves()).toEqual([bob.client]);
  await core.stop();
});

it('per connection: sends a leave for every orphan', async () => {
  const { core, leaves } = await watched(true);
  await inside(core).hub.announceOrphans('team:a', [ann, bob], [1, 0]);
  await turn();
  expect(leaves()).toEqual([ann.client, bob.client]);
  await core.stop();
});
