// The backend proxy as one more `Hooks` object (docs/backend.md): registered
// after every in-process hook, so those decide first and the backend is asked
// only when they let a request through. Which call each hook makes:
//   authenticateWithoutToken -> connect  (no valid token in the handshake)
//   refresh                  -> refresh  (at the expiresAt connect gave)
//   subscribe / publish      -> subscribe / publish (namespaces whose rule is "proxy")
//   rpc                      -> rpc      (methods no in-process handler serves)
import { namespaceOf } from '../../protocol/channels.js';
import type { NamespaceConfig } from '../config.js';
import type { Authenticated, ClientContext, Hooks } from '../core/index.js';
import type { ProxyCaller } from './caller.js';
import type { ProxyConfig } from './config.js';

/** The fields every call's body has (docs/protocol.md, "Backend proxy"). */
function common(client: ClientContext): Record<string, unknown> {
  return { client: client.client, user: client.user, transport: client.transport, protocol: client.protocol, headers: client.headers };
}

export function proxyHooks(config: ProxyConfig, namespaces: Record<string, NamespaceConfig>, caller: ProxyCaller): Hooks {
  const ruled = (channel: string, rule: 'subscribe' | 'publish') => namespaces[namespaceOf(channel)]?.[rule] === 'proxy';
  const hooks: Hooks = {};
  if (config.connect) {
    hooks.authenticateWithoutToken = async (_req, client) => {
      const result = await caller.call('connect', client.client, common(client));
      const accepted: Authenticated = { user: result.user ?? null };
      if ('info' in result) accepted.info = result.info;
      if (typeof result.expiresAt === 'number') accepted.expiresAt = result.expiresAt;
      if (result.channels) accepted.subscriptions = result.channels;
      return accepted;
    };
  }
  if (config.refresh) {
    hooks.refresh = async (client) => {
      const result = await caller.call('refresh', client.client, common(client));
      return result.expired === true ? { expired: true } : { expiresAt: result.expiresAt ?? null };
    };
  }
  if (config.subscribe) {
    hooks.subscribe = async (client, channel, since) => {
      if (!ruled(channel, 'subscribe')) return undefined;
      const result = await caller.call('subscribe', client.client, { ...common(client), channel, ...(since ? { since } : {}) });
      return 'info' in result ? { info: result.info } : {};
    };
  }
  if (config.publish) {
    hooks.publish = async (client, channel, payload) => {
      if (!ruled(channel, 'publish')) return undefined;
      const result = await caller.call('publish', client.client, { ...common(client), channel, payload });
      return 'payload' in result ? { payload: result.payload } : undefined;
    };
  }
  if (config.rpc) {
    hooks.rpc = async (client, method, payload) => {
      const result = await caller.call('rpc', client.client, { ...common(client), method, payload });
      return { payload: result.payload ?? null };
    };
  }
  return hooks;
}
