// wss:// served directly with --tls-cert and --tls-key, HTTP API included,
// with a self-signed certificate made for the test.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { killChildren, serve } from '../helpers/cli.js';
import { RawClient } from '../helpers/raw-client.js';

afterEach(killChildren);

function selfSigned(): { cert: string; key: string } {
  const dir = mkdtempSync(join(tmpdir(), 'sb-tls-'));
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
    ],
    { stdio: 'ignore' },
  );
  return { cert, key };
}

it('serves wss:// and https:// with the given certificate', async () => {
  const { cert, key } = selfSigned();
  const { url } = await serve(['--tls-cert', cert, '--tls-key', key, '--api-key', 'k']);
  expect(url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
  const ca = readFileSync(cert);

  const client = await RawClient.connect(`${url.replace('https', 'wss')}/ws`, { ca });
  await client.ok({ type: 'subscribe', channel: 'secure' });
  const status = await new Promise<number>((resolve, reject) => {
    const req = https.request(
      `${url}/api/publish`,
      {
        method: 'POST',
        ca,
        headers: { Authorization: 'apikey k', 'Content-Type': 'application/json' },
      },
      (res) => resolve(res.statusCode!),
    );
    req.on('error', reject);
    req.end(JSON.stringify({ channel: 'secure', payload: 'over tls' }));
  });
  expect(status).toBe(200);
  expect((await client.next((f) => f.type === 'message')).payload).toBe('over tls');
  await client.close();
});

it('is refused by a client that does not trust the certificate', async () => {
  const { cert, key } = selfSigned();
  const { url } = await serve(['--tls-cert', cert, '--tls-key', key]);
  await expect(RawClient.connect(`${url.replace('https', 'wss')}/ws`)).rejects.toThrow();
});
