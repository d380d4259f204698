// Standard Webhooks signatures (docs/protocol.md sections 10 and 11), made by
// the maintained `standardwebhooks` library: `webhook-signature` is `v1,` and
// the base64 HMAC-SHA256, keyed with the secret after `whsec_`, of
// `{webhook-id}.{webhook-timestamp}.{body}`.
import { webhookClass } from './standard-webhooks.js';

/** The three headers of a signed call; `timestampSeconds` defaults to now. */
export function signHeaders(secret: string, id: string, body: string, timestampSeconds = Math.floor(Date.now() / 1000)): Record<string, string> {
  const signature = new (webhookClass())(secret).sign(id, new Date(timestampSeconds * 1000), body);
  return { 'webhook-id': id, 'webhook-timestamp': String(timestampSeconds), 'webhook-signature': signature };
}
