// Application hooks: several per event, run in order like middleware, each
// able to refuse with a contract error (throw a SwitchboardError). Application
// code is a guest: a hook that throws, rejects or hangs never takes the
// process down and never strands a session; it fails the one thing it was
// deciding, and the error is logged with the client id.
import type { IncomingMessage } from 'node:http';
import { SwitchboardError } from '../../protocol/codes.js';
import { validateWith, type StandardSchema } from './standard-schema.js';

/** Who a hook is deciding about. */
export interface ClientContext {
  client: string;
  user: string | null;
  /** The client's address (the forwarded one behind a trusted proxy). */
  ip: string;
  /** The token's `info` claim, or what an authenticate hook gave. */
  info: unknown;
}

/** What an authenticate hook may accept a connection as. */
export interface Authenticated {
  user: string | null;
  info?: unknown;
  /** Glob patterns, for namespaces with subscribe: "token". */
  channels?: string[];
  /** Seconds since the epoch; the connection is closed 4001 then. */
  expiresAt?: number | null;
}

/**
 * Runs before the upgrade with the HTTP request. Return who the client is to
 * accept it, nothing to leave the decision to the next hook (and finally to
 * the JWT), or throw a SwitchboardError to refuse with its HTTP status.
 */
export type AuthenticateHook = (req: IncomingMessage) => Authenticated | null | undefined | void | Promise<Authenticated | null | undefined | void>;
/** Runs after the upgrade, before the welcome; throw to refuse (see docs/protocol.md "Hooks"). */
export type ConnectHook = (client: ClientContext) => unknown;
/** Throw to refuse; return `{info}` to show that in the channel's presence for this client. */
export type SubscribeHook = (client: ClientContext, channel: string) => { info?: unknown } | void | Promise<{ info?: unknown } | void>;
/** Throw to refuse; return `{payload}` to store and deliver that instead. */
export type PublishHook = (client: ClientContext, channel: string, payload: unknown) => { payload: unknown } | void | Promise<{ payload: unknown } | void>;
export type DisconnectHook = (client: ClientContext, code: number, reason: string) => unknown;

export class Hooks {
  readonly authenticate: AuthenticateHook[] = [];
  readonly connect: ConnectHook[] = [];
  readonly subscribe: SubscribeHook[] = [];
  readonly publish: PublishHook[] = [];
  readonly disconnect: DisconnectHook[] = [];
  /** Namespace -> the schema every client publication in it must pass. */
  readonly publishSchemas = new Map<string, StandardSchema>();

  /** `timeout`: ms a hook may take before it counts as failed. */
  constructor(readonly timeout: number) {}

  /** Run one hook with the timeout; its result, or its error. */
  async run<T>(name: string, call: () => T | Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new SwitchboardError('timeout', `the ${name} hook did not answer within ${this.timeout} ms`)), this.timeout);
      timer.unref();
    });
    try {
      return await Promise.race([Promise.resolve().then(call), expired]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Check a client publication against its namespace's schema: bad_request with the schema's message. */
  async checkPublication(namespace: string, channel: string, payload: unknown): Promise<unknown> {
    const schema = this.publishSchemas.get(namespace);
    return schema ? this.run('publish schema', () => validateWith(schema, payload, channel)) : payload;
  }
}
