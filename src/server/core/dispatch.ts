// Answers one valid client request (docs/protocol.md "Frames"). Every request
// with an id gets exactly one reply; failures without an id become error frames.
// The application's subscribe and publish hooks decide before the hub acts.
import type { Logger } from 'pino';
import { SwitchboardError } from '../../protocol/codes.js';
import { DEFAULT_HISTORY_LIMIT, type ClientRequest } from '../../protocol/frames.js';
import type { TokenVerifier } from '../auth.js';
import { DisconnectError, type HookChain } from './hooks.js';
import type { Hub } from './hub.js';
import { loggable } from '../logger.js';
import { namespaceOf } from '../../protocol/channels.js';
import type { Namespaces } from './namespaces.js';
import type { RpcRegistry } from './rpc.js';
import type { Session } from './session.js';

export class Dispatcher {
  constructor(
    private readonly hub: Hub,
    private readonly namespaces: Namespaces,
    private readonly rpc: RpcRegistry,
    private readonly verifier: TokenVerifier,
    private readonly logger: Logger,
    private readonly maxReplyBytes: number,
    private readonly hooks: HookChain,
  ) {}

  async handle(session: Session, frame: ClientRequest): Promise<void> {
    // A request parked or read after its session closed has no one to answer.
    if (session.closed) return;
    try {
      await this.route(session, frame);
    } catch (error) {
      if (session.closed) return;
      if (error instanceof DisconnectError) {
        // A hook (the backend's `disconnect` answer) ends the connection instead of answering.
        session.close(error.code, error.reason);
      } else if (error instanceof SwitchboardError) {
        session.fail(frame.id, error.code, error.message);
      } else {
        this.logger.error({ err: loggable(error), client: session.id, type: frame.type }, 'request failed');
        session.fail(frame.id, 'internal', 'internal error');
      }
    }
  }

  private async route(session: Session, frame: ClientRequest): Promise<void> {
    switch (frame.type) {
      case 'subscribe': {
        // Checked once, before any hook is asked: the hub trusts the namespace it is given.
        const namespace = this.namespaces.checkSubscribe(session.identity, frame.channel);
        const info = await this.hooks.subscribe(session.context(), frame.channel, frame.since, session.identity.info, () => !session.closed);
        const options = {
          info,
          ...(frame.exclude ? { exclude: frame.exclude } : {}),
          ...(frame.rewind ? { rewind: frame.rewind } : {}),
          ...(frame.delta ? { delta: frame.delta } : {}),
        };
        await this.hub.subscribe(session, frame.channel, namespace, frame.since, (result) => session.reply(frame.id, result), options);
        return;
      }
      case 'unsubscribe':
        await this.hub.unsubscribe(session, frame.channel);
        session.reply(frame.id, {});
        return;
      case 'publish': {
        const namespace = this.namespaces.checkPublish(session.identity, frame.channel, session.subscriptions.has(frame.channel));
        const payload = await this.hooks.publish(session.context(), namespaceOf(frame.channel), frame.channel, frame.payload);
        const from = { client: session.id, user: session.user };
        const { idempotencyKey, exclude } = frame;
        const offset = await this.hub.publish(frame.channel, payload, from, namespace, { idempotencyKey, exclude });
        session.reply(frame.id, { offset });
        return;
      }
      case 'rpc': {
        // A method no handler serves goes to the rpc hooks (the backend's rpc call), when there are any.
        const served = this.rpc.has(frame.method) || !this.hooks.has('rpc');
        const context = session.context();
        session.reply(
          frame.id,
          served ? await this.rpc.call(frame.method, frame.payload, context) : await this.hooks.rpc(context, frame.method, frame.payload),
        );
        return;
      }
      case 'presence': {
        const namespace = this.namespaces.checkRead(session.identity, frame.channel, session.subscriptions.has(frame.channel));
        session.reply(frame.id, await this.hub.presence(frame.channel, namespace));
        return;
      }
      case 'presence_update': {
        if (!session.subscriptions.has(frame.channel)) throw new SwitchboardError('not_subscribed', `not subscribed to ${frame.channel}`);
        const info = await this.hooks.presenceUpdate(session.context(), frame.channel, frame.info);
        await this.hub.updatePresence(session, frame.channel, info);
        session.reply(frame.id, {});
        return;
      }
      case 'history': {
        const namespace = this.namespaces.checkRead(session.identity, frame.channel, session.subscriptions.has(frame.channel));
        const limit = frame.limit ?? DEFAULT_HISTORY_LIMIT;
        // The reply is encoded once, while checking it fits; nothing is encoded for a closed session.
        let encoded: string | Uint8Array | null = null;
        const fits = (result: unknown) => {
          if (session.closed) return true;
          encoded = session.codec.encode({ type: 'reply', id: frame.id, ok: true, payload: result });
          return byteLength(encoded) <= this.maxReplyBytes;
        };
        const result = await this.hub.history(frame.channel, namespace, limit, frame.since, fits);
        if (frame.id === undefined || session.closed) return;
        session.sendEncoded(encoded ?? session.codec.encode({ type: 'reply', id: frame.id, ok: true, payload: result }));
        return;
      }
      case 'refresh': {
        const identity = await this.verifier.verify(frame.token);
        if (identity.user !== session.user) {
          throw new SwitchboardError('forbidden', 'a refreshed token must have the same sub');
        }
        session.identity = identity;
        session.scheduleExpiry();
        session.reply(frame.id, { expiresAt: identity.expiresAt });
        return;
      }
    }
  }
}

function byteLength(data: string | Uint8Array): number {
  return typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength;
}
