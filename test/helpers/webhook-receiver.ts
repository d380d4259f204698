// A webhook endpoint for tests: a real HTTP server that checks every call's
// Standard Webhooks signature with the `standardwebhooks` library (as a
// receiver in any language would), records the calls, and answers as the test
// says. Waits are for calls, with a deadline, never a sleep.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

export const WEBHOOK_SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

export interface WebhookCall {
  id: string;
  timestamp: number;
  type: string;
  /** The body's ISO timestamp. */
  at: string;
  data: Record<string, any>;
}

/** How to answer a call: a status, or a promise of one (to hold the answer). */
export type Answer = (call: WebhookCall) => number | Promise<number>;

export class WebhookReceiver {
  /** Every call whose signature verified, in arrival order (retries included). */
  readonly calls: WebhookCall[] = [];
  /** Calls whose signature did not verify (there should be none). */
  readonly forged: string[] = [];
  answer: Answer = () => 204;
  private waiters: Array<() => void> = [];

  private constructor(
    private readonly server: http.Server,
    readonly url: string,
  ) {}

  static async start(port = 0, secret = WEBHOOK_SECRET): Promise<WebhookReceiver> {
    const verifier = new Webhook(secret);
    const server = http.createServer();
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    const receiver = new WebhookReceiver(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}/events`);
    server.on('request', (req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (chunk) => (body += chunk));
      req.on('end', () => {
        let call: WebhookCall;
        try {
          const parsed = verifier.verify(body, req.headers as Record<string, string>) as { type: string; timestamp: string; data: Record<string, any> };
          call = {
            id: req.headers['webhook-id'] as string,
            timestamp: Number(req.headers['webhook-timestamp']),
            type: parsed.type,
            at: parsed.timestamp,
            data: parsed.data,
          };
        } catch (error) {
          receiver.forged.push(String(error));
          res.writeHead(400).end();
          return;
        }
        receiver.calls.push(call);
        for (const wake of receiver.waiters.splice(0)) wake();
        void Promise.resolve(receiver.answer(call)).then((status) => res.writeHead(status).end());
      });
    });
    return receiver;
  }

  /** Calls of these types, in order. */
  of(...types: string[]): WebhookCall[] {
    return this.calls.filter((call) => types.includes(call.type));
  }

  /** Resolves once `check` holds, re-checked at each call. */
  async until(check: () => boolean, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`webhook calls did not arrive in time; got ${JSON.stringify(this.calls.map((c) => c.type))}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, deadline - Date.now());
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** The first call matching `match`, waiting for it. */
  async next(match: (call: WebhookCall) => boolean, timeoutMs?: number): Promise<WebhookCall> {
    await this.until(() => this.calls.some(match), timeoutMs);
    return this.calls.find(match)!;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
