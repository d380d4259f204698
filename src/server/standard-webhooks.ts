// The `standardwebhooks` library (CommonJS), required at its first use: a
// server that signs nothing and checks no proxy secret starts without it.
import { createRequire } from 'node:module';
import type { Webhook } from 'standardwebhooks';

let webhook: typeof Webhook | null = null;

/** The library's Webhook class: `new (webhookClass())(secret)`. */
export function webhookClass(): typeof Webhook {
  webhook ??= (createRequire(import.meta.url)('standardwebhooks') as { Webhook: typeof Webhook }).Webhook;
  return webhook;
}
