// The webhook event types of docs/protocol.md section 11, and how each is sent.
export const WEBHOOK_EVENTS = [
  'user.online',
  'user.offline',
  'client.connected',
  'client.disconnected',
  'channel.occupied',
  'channel.vacated',
  'presence.join',
  'presence.leave',
] as const;

export type WebhookEventType = (typeof WEBHOOK_EVENTS)[number];

/** The body of a webhook call: the same bytes on every retry, so the signature covers what the receiver parses. */
export function webhookBody(event: { type: string; at: number; data: Record<string, unknown> }): string {
  return JSON.stringify({ type: event.type, timestamp: new Date(event.at).toISOString(), data: event.data });
}
