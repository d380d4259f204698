// Who may subscribe to and publish on a channel (docs/protocol.md, "Channels").
import { namespaceOf, userOfChannel } from '../../protocol/channels.js';
import { SwitchboardError } from '../../protocol/codes.js';
import type { Identity } from '../auth.js';
import type { NamespaceConfig } from '../config.js';
import { globMatches } from './glob.js';

export class Namespaces {
  /** True when some namespace lets a client without a token subscribe or publish. */
  readonly allowsAnonymous: boolean;

  constructor(private readonly byName: Record<string, NamespaceConfig>) {
    // "proxy": the backend may admit an anonymous client.
    this.allowsAnonymous = Object.values(byName).some((ns) => [ns.subscribe, ns.publish].some((rule) => rule === 'anyone' || rule === 'proxy'));
  }

  /** The namespace's rules, or throws not_found. */
  resolve(channel: string): NamespaceConfig {
    const namespace = namespaceOf(channel);
    const config = Object.hasOwn(this.byName, namespace) ? this.byName[namespace] : undefined;
    if (!config) throw new SwitchboardError('not_found', `namespace "${namespace}" is not configured`);
    return config;
  }

  /** Throws the contract's error when `identity` may not subscribe to `channel`. */
  checkSubscribe(identity: Identity, channel: string): NamespaceConfig {
    const config = this.resolve(channel);
    const owner = userOfChannel(channel);
    if (owner !== null && owner !== identity.user) {
      throw new SwitchboardError('forbidden', `only user ${owner} may subscribe to ${channel}`);
    }
    switch (config.subscribe) {
      case 'anyone':
      case 'proxy': // the backend's subscribe call decides, after the in-process hooks
        break;
      case 'authenticated':
        if (identity.user === null) throw new SwitchboardError('forbidden', 'subscribing here needs a token');
        break;
      case 'token':
        if (!identity.channels.some((pattern) => globMatches(pattern, channel))) {
          throw new SwitchboardError('forbidden', `the token's channels claim does not allow ${channel}`);
        }
        break;
    }
    return config;
  }

  /**
   * Throws when `identity` may not read `channel`'s history or presence: as
   * for subscribing, except where the backend decides subscriptions
   * ("proxy"), only a client it let subscribe may read.
   */
  checkRead(identity: Identity, channel: string, isSubscriber: boolean): NamespaceConfig {
    const config = this.checkSubscribe(identity, channel);
    if (config.subscribe === 'proxy' && !isSubscriber)
      throw new SwitchboardError('forbidden', `subscribe to ${channel} before reading its history or presence`);
    return config;
  }

  /** Throws the contract's error when a client may not publish on `channel`. */
  checkPublish(identity: Identity, channel: string, isSubscriber: boolean): NamespaceConfig {
    const config = this.resolve(channel);
    switch (config.publish) {
      case 'anyone':
      case 'proxy': // the backend's publish call decides
        break;
      case 'authenticated':
        if (identity.user === null) throw new SwitchboardError('forbidden', 'publishing here needs a token');
        break;
      case 'subscribers':
        if (!isSubscriber) throw new SwitchboardError('forbidden', `subscribe to ${channel} before publishing on it`);
        break;
      case 'server':
        throw new SwitchboardError('forbidden', `only the server publishes on ${channel}`);
    }
    return config;
  }
}
