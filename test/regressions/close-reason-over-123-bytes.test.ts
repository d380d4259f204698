// Issue 19, item 1: a close reason over 123 bytes made `ws` throw from close().
// From a connect hook's refusal that killed the process; from a disconnect it
// left a deaf zombie (socket open, still in presence and stats). Reasons are
// fitted on a character boundary, and closing a session cannot throw.
import { afterEach, describe, expect, it } from 'vitest';
import { fitCloseReason, MAX_CLOSE_REASON_BYTES } from '../../src/protocol/close-reason.js';
import { SwitchboardError } from '../../src/protocol/codes.js';
import { RawClient } from '../helpers/raw-client.js';
import { startServer, type TestServer } from '../helpers/server.js';

const KEY = 'api-key-for-tests';
let srv: TestServer | null = null;
afterEach(async () => {
  await srv?.close();
  srv = null;
});

function bytes(text: string): number {
  return Buffer.byteLength(text);
}

describe('fitCloseReason', () => {
  it('keeps a reason that fits and cuts a longer one on a character boundary, ending in an ellipsis', () => {
    expect(fitCloseReason('short')).toBe('short');
    const exact = 'x'.repeat(123);
    expect(fitCloseReason(exact)).toBe(exact);
    for (const long of ['a'.repeat(124), '界'.repeat(42), 'é'.repeat(100), '😀'.repeat(40), `${'a'.repeat(119)}😀😀`]) {
      const fitted = fitCloseReason(long);
      expect(bytes(fitted)).toBeLessThanOrEqual(MAX_CLOSE_REASON_BYTES);
      expect(fitted.endsWith('…')).toBe(true);
      expect(long.startsWith(fitted.slice(0, -1))).toBe(true);
      // No half of a surrogate pair left behind.
      expect(/[\uD800-\uDBFF]$/.test(fitted.slice(0, -1))).toBe(false);
    }
  });
});

describe('a long reason', () => {
  it("from a connect hook's refusal closes with 4003 and the reason cut, and the server lives on", async () => {
    for (const message of ['a'.repeat(124), '拒'.repeat(42)]) {
      srv = await startServer();
      srv.server.onConnect(() => {
        throw new SwitchboardError('forbidden', message);
      });
      const { default: WebSocket } = await import('ws');
      const ws = new WebSocket(srv.wsUrl);
      ws.on('error', () => {});
      const closed = await new Promise<{ code: number; reason: string }>((resolve) =>
        ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
      );
      expect(closed.code).toBe(4003);
      expect(closed.reason).toBe(fitCloseReason(message));
      await expect.poll(() => srv!.server.operations.stats().connections).toBe(0);
      await srv.close();
      srv = null;
    }
  });

  it('from POST /api/disconnect closes the client, which leaves presence and stats', async () => {
    srv = await startServer({ apiKey: KEY, namespaces: { '': { presence: true } } });
    const client = await RawClient.connect(srv.wsUrl);
    await client.ok({ type: 'subscribe', channel: 'room' });
    const reason = 'é'.repeat(100); // 100 characters, 200 bytes: within the schema's 120 characters
    const res = await fetch(`${srv.url}/api/disconnect`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `apikey ${KEY}` },
      body: JSON.stringify({ client: client.welcome.payload.client, reason }),
    });
    expect(await res.json()).toEqual({ disconnected: 1 });
    expect(await client.closed).toEqual({ code: 4003, reason: fitCloseReason(reason) });
    await expect.poll(() => srv!.server.operations.stats().connections).toBe(0);
    expect(await srv.server.presence('room')).toEqual({ clients: [] });
  });

  it('from server.disconnect closes the client', async () => {
    srv = await startServer();
    const client = await RawClient.connect(srv.wsUrl);
    expect(await srv.server.disconnect({ client: client.welcome.payload.client }, 4003, '断'.repeat(60))).toBe(1);
    expect((await client.closed).code).toBe(4003);
  });
});
