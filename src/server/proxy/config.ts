// The `proxy` key of the config file (docs/configuration.md, "proxy"; the
// contract's section 10): where the application's backend is asked, and the
// bounds of asking it. Checked at load, with the key named in every error.
import { z } from 'zod';
import { webhookClass } from '../standard-webhooks.js';

/** The calls the backend can answer, one URL each. */
export const PROXY_KINDS = ['connect', 'refresh', 'subscribe', 'publish', 'rpc'] as const;
export type ProxyKind = (typeof PROXY_KINDS)[number];

const endpoint = z.strictObject({
  url: z.url({ protocol: /^https?$/, error: 'an http:// or https:// URL' }),
});

/** A `whsec_` secret whose key part is base64, as Standard Webhooks has it. */
const secret = z
  .string()
  .regex(/^whsec_[A-Za-z0-9+/]+=*$/, 'a Standard Webhooks secret: whsec_ followed by base64')
  .refine((value) => {
    try {
      new (webhookClass())(value);
      return true;
    } catch {
      return false;
    }
  }, 'a Standard Webhooks secret: whsec_ followed by base64');

export const proxySchema = z.strictObject({
  connect: endpoint.optional(),
  refresh: endpoint.optional(),
  subscribe: endpoint.optional(),
  publish: endpoint.optional(),
  rpc: endpoint.optional(),
  /** ms a call may take, its answer read whole; past it the request gets `unavailable`. */
  timeout: z.number().int().positive().default(3_000),
  /** Calls in flight at once on this node; past it a request gets `unavailable` at once. */
  concurrency: z.number().int().positive().default(256),
  /** Handshake headers forwarded with every call, by name (compared lower-case). */
  headers: z
    .array(z.string().regex(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/, 'an HTTP header name'))
    .default([])
    .transform((names) => [...new Set(names.map((name) => name.toLowerCase()))]),
  /** Signs every call the Standard Webhooks way (docs/backend.md, "Checking the signature"). */
  secret: secret.nullable().default(null),
  /** Largest answer body read, in bytes; a larger one is a failed call. */
  maxResponseBytes: z.number().int().positive().default(1_048_576),
});

export type ProxyConfig = z.output<typeof proxySchema>;

interface WithNamespaces {
  proxy: ProxyConfig | null;
  namespaces: Record<string, { subscribe: string; publish: string }>;
}

/** What is wrong across keys: a namespace whose rule says "proxy" needs that call's URL. */
export function proxyProblems(config: WithNamespaces): string[] {
  const problems: string[] = [];
  for (const [name, namespace] of Object.entries(config.namespaces)) {
    for (const rule of ['subscribe', 'publish'] as const) {
      if (namespace[rule] === 'proxy' && !config.proxy?.[rule]) problems.push(`namespaces.${name}.${rule}: "proxy" needs proxy.${rule}.url`);
    }
  }
  return problems;
}
