// Application hooks: one `Hooks` type, registered any number of times and run
// in order like middleware, each able to refuse with a contract error (throw a
// SwitchboardError). Every hook is called through one path (`callEach`), with
// the hook timeout, so that a hook living elsewhere (a backend over HTTP) is
// one more `Hooks` object. Application code is a guest: a hook that throws,
// rejects or hangs never takes the process down and never strands a session;
// it fails the one thing it was deciding.
import type { IncomingMessage } from 'node:http';
import { SwitchboardError } from '../../protocol/codes.js';
import type { Identity } from '../auth.js';
import { validateWith, type StandardSchema } from './standard-schema.js';

/** Who a connection is: what hooks, RPC handlers and disconnect listeners are told. */
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

type Maybe<T> = T | null | undefined | void;

/** Every hook there is; a registration gives any of them. */
export interface Hooks {
  /**
   * Before the upgrade, with the HTTP request. Return who the client is to
   * accept it, nothing to leave the decision to the next hook (and finally to
   * the JWT), or throw a SwitchboardError to refuse with its HTTP status.
   */
  authenticate?: (req: IncomingMessage) => Maybe<Authenticated> | Promise<Maybe<Authenticated>>;
  /** After the upgrade, before the welcome; throw to refuse (docs/protocol.md "Hooks"). */
  connect?: (client: ClientContext) => unknown;
  /** Throw to refuse; return `{info}` to show that in the channel's presence for this client. */
  subscribe?: (client: ClientContext, channel: string) => Maybe<{ info?: unknown }> | Promise<Maybe<{ info?: unknown }>>;
  /** Throw to refuse; return `{payload}` to store and deliver that instead. */
  publish?: (client: ClientContext, channel: string, payload: unknown) => Maybe<{ payload: unknown }> | Promise<Maybe<{ payload: unknown }>>;
  /** Before a client's presence_update: throw to refuse; return `{info}` to show that instead (docs/protocol.md, "Presence updates"). */
  presenceUpdate?: (client: ClientContext, channel: string, info: unknown) => Maybe<{ info: unknown }> | Promise<Maybe<{ info: unknown }>>;
  /** After a connection closed, with the close code and reason; every one runs, whatever the others do. */
  disconnect?: (client: ClientContext, code: number, reason: string) => unknown;
}

export type AuthenticateHook = NonNullable<Hooks['authenticate']>;
export type ConnectHook = NonNullable<Hooks['connect']>;
export type SubscribeHook = NonNullable<Hooks['subscribe']>;
export type PublishHook = NonNullable<Hooks['publish']>;
export type PresenceUpdateHook = NonNullable<Hooks['presenceUpdate']>;
export type DisconnectHook = NonNullable<Hooks['disconnect']>;

type HookName = keyof Hooks;

export class HookChain {
  private readonly chain: Hooks[] = [];
  /** Namespace -> the schema every client publication in it must pass. */
  private readonly publishSchemas = new Map<string, StandardSchema>();

  /** `timeout`: ms a hook may take before it counts as failed. */
  constructor(private readonly timeout: number) {}

  add(hooks: Hooks): void {
    this.chain.push(hooks);
  }

  has(name: HookName): boolean {
    return this.chain.some((hooks) => hooks[name] !== undefined);
  }

  setPublishSchema(namespace: string, schema: StandardSchema): void {
    this.publishSchemas.set(namespace, schema);
  }

  /** The first identity an authenticate hook gives, or null to leave it to the token. */
  async authenticate(req: IncomingMessage): Promise<Identity | null> {
    let identity: Identity | null = null;
    await this.callEach(
      'authenticate',
      (hook) => hook(req),
      (answer) => {
        if (!answer) return true;
        identity = { user: answer.user, info: answer.info ?? null, channels: answer.channels ?? [], expiresAt: answer.expiresAt ?? null };
        return false;
      },
    );
    return identity;
  }

  /** Every connect hook in order, while `open()` holds; the first refusal throws. */
  async connect(client: ClientContext, open: () => boolean): Promise<void> {
    await this.callEach('connect', (hook) => hook(client), open);
  }

  /**
   * The presence info for this subscription, while `open()` holds: the
   * connection's info (token or authenticate) with each subscribe hook's
   * `{info}` merged over it, its keys winning (mergeInfo).
   */
  async subscribe(client: ClientContext, channel: string, info: unknown, open: () => boolean): Promise<unknown> {
    await this.callEach(
      'subscribe',
      (hook) => hook(client, channel),
      (decided) => {
        if (decided && 'info' in decided) info = mergeInfo(info, decided.info);
        return open();
      },
    );
    return info;
  }

  /** The payload after the namespace's schema and every publish hook (each may replace it). */
  async publish(client: ClientContext, namespace: string, channel: string, payload: unknown): Promise<unknown> {
    const schema = this.publishSchemas.get(namespace);
    if (schema) payload = await this.withTimeout('publish schema', () => validateWith(schema, payload, channel));
    await this.callEach(
      'publish',
      (hook) => hook(client, channel, payload),
      (decided) => {
        if (decided && 'payload' in decided) payload = decided.payload;
        return true;
      },
    );
    return payload;
  }

  /** The info after every presenceUpdate hook (each may replace it). */
  async presenceUpdate(client: ClientContext, channel: string, info: unknown): Promise<unknown> {
    await this.callEach(
      'presenceUpdate',
      (hook) => hook(client, channel, info),
      (decided) => {
        if (decided && 'info' in decided) info = decided.info;
        return true;
      },
    );
    return info;
  }

  /** Every disconnect listener, each whatever the others do; a failure goes to `onError`. */
  disconnect(client: ClientContext, code: number, reason: string, onError: (error: unknown) => void): void {
    for (const hooks of this.chain) {
      const hook = hooks.disconnect;
      if (hook) this.withTimeout('disconnect', () => hook(client, code, reason)).catch(onError);
    }
  }

  /**
   * The one call path: each registered hook of `name` in turn, with the
   * timeout; `next` sees each answer and says whether to go on.
   */
  private async callEach<N extends HookName, R>(
    name: N,
    call: (hook: NonNullable<Hooks[N]>) => R | Promise<R>,
    next: (answer: Awaited<R>) => boolean,
  ): Promise<void> {
    for (const hooks of this.chain) {
      const hook = hooks[name];
      if (hook === undefined) continue;
      const answer = await this.withTimeout(name, () => call(hook as NonNullable<Hooks[N]>));
      if (!next(answer)) return;
    }
  }

  /** Run one call with the timeout; its result, or its error. */
  private async withTimeout<T>(name: string, call: () => T | Promise<T>): Promise<Awaited<T>> {
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
}

const isPlainObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * A subscribe hook's info over the connection's: two objects merge (a
 * `{name}` from the token and a `{seat}` from the hook show both; the hook's
 * keys win); anything else (a string, an array, null) replaces.
 */
function mergeInfo(base: unknown, over: unknown): unknown {
  return isPlainObject(base) && isPlainObject(over) ? { ...base, ...over } : over;
}
