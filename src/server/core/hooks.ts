// Application hooks: one `Hooks` type, registered any number of times and run
// in order like middleware, each able to refuse with a contract error (throw a
// SwitchboardError). Every hook is called through one path (`callEach`), with
// the hook timeout, so that a hook living elsewhere (a backend over HTTP) is
// one more `Hooks` object: the backend proxy (src/server/proxy/) is added as
// the chain's tail, so in-process hooks always decide first (docs/backend.md,
// "With in-process hooks"). Application code is a guest: a hook that throws,
// rejects or hangs never takes the process down and never strands a session;
// it fails the one thing it was deciding.
import type { IncomingMessage } from 'node:http';
import { SwitchboardError } from '../../protocol/codes.js';
import type { StreamPosition } from '../../protocol/frames.js';
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
  /** How the client is connected. */
  transport: 'websocket' | 'sse' | 'http-stream';
  /** The subprotocol's encoding: 'json' or 'msgpack'. */
  protocol: 'json' | 'msgpack';
  /** The handshake's headers named in proxy.headers, lower-case; empty without them. */
  headers: Readonly<Record<string, string>>;
}

/** What an authenticate hook may accept a connection as. */
export interface Authenticated {
  user: string | null;
  info?: unknown;
  /** Glob patterns, for namespaces with subscribe: "token". */
  channels?: string[];
  /** Seconds since the epoch: the refresh hooks are asked then (none, or none answering: closed 4001). */
  expiresAt?: number | null;
  /** Channels the server subscribes the connection to right after the welcome (`subscribed` frames). */
  subscriptions?: string[];
}

/** What a refresh hook answers: a new expiry, or that the connection has expired (closed 4001). */
export interface Refreshed {
  expiresAt?: number | null;
  expired?: boolean;
}

/**
 * Thrown by a hook to close the connection with `code` (4000-4999) and
 * `reason` instead of answering the request (the backend's `disconnect`).
 */
export class DisconnectError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
  ) {
    super(`disconnect ${code}: ${reason}`);
    this.name = 'DisconnectError';
  }
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
  /**
   * Before the upgrade, for a request no authenticate hook accepted and that
   * carries no valid token (a valid JWT is never asked about): accept it as
   * someone (`{}` for anonymous), nothing to leave it to the token's verdict,
   * or throw to refuse. `client` has user null and the id the connection gets.
   */
  authenticateWithoutToken?: (req: IncomingMessage, client: ClientContext) => Maybe<Authenticated> | Promise<Maybe<Authenticated>>;
  /** At the `expiresAt` an authenticate hook gave: extend it, say it expired, or nothing for the next hook. */
  refresh?: (client: ClientContext) => Maybe<Refreshed> | Promise<Maybe<Refreshed>>;
  /** After the upgrade, before the welcome; throw to refuse (docs/protocol.md "Hooks"). */
  connect?: (client: ClientContext) => unknown;
  /** Throw to refuse; return `{info}` to show that in the channel's presence for this client. */
  subscribe?: (client: ClientContext, channel: string, since?: StreamPosition) => Maybe<{ info?: unknown }> | Promise<Maybe<{ info?: unknown }>>;
  /** Throw to refuse; return `{payload}` to store and deliver that instead. */
  publish?: (client: ClientContext, channel: string, payload: unknown) => Maybe<{ payload: unknown }> | Promise<Maybe<{ payload: unknown }>>;
  /** Before a client's presence_update: throw to refuse; return `{info}` to show that instead (docs/protocol.md, "Presence updates"). */
  presenceUpdate?: (client: ClientContext, channel: string, info: unknown) => Maybe<{ info: unknown }> | Promise<Maybe<{ info: unknown }>>;
  /** An RPC method no handler is registered for: return `{payload}` to answer, nothing for the next hook (not_found at the end). */
  rpc?: (client: ClientContext, method: string, payload: unknown) => Maybe<{ payload: unknown }> | Promise<Maybe<{ payload: unknown }>>;
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

/** Where a registration goes: among the application's hooks, or after all of them (the backend proxy). */
export type HookPlace = 'app' | 'last';

export class HookChain {
  /** The application's hooks, then the tail's: the order every call path follows. */
  private chain: Hooks[] = [];
  private readonly app: Hooks[] = [];
  private readonly tail: Hooks[] = [];
  /** Namespace -> the schema every client publication in it must pass. */
  private readonly publishSchemas = new Map<string, StandardSchema>();

  /** `timeout`: ms a hook may take before it counts as failed. */
  constructor(private readonly timeout: number) {}

  add(hooks: Hooks, place: HookPlace = 'app'): void {
    (place === 'app' ? this.app : this.tail).push(hooks);
    this.chain = [...this.app, ...this.tail];
  }

  has(name: HookName): boolean {
    return this.chain.some((hooks) => hooks[name] !== undefined);
  }

  setPublishSchema(namespace: string, schema: StandardSchema): void {
    this.publishSchemas.set(namespace, schema);
  }

  /** The first identity an authenticate hook gives, or null to leave it to the token. */
  async authenticate(req: IncomingMessage): Promise<Identity | null> {
    const answer = await this.firstAnswer('authenticate', (hook) => hook(req));
    return answer ? hookIdentity(answer) : null;
  }

  /** The first identity an authenticateWithoutToken hook gives, or null to leave it to the token's verdict. */
  async authenticateWithoutToken(req: IncomingMessage, client: ClientContext): Promise<Identity | null> {
    const answer = await this.firstAnswer('authenticateWithoutToken', (hook) => hook(req, client));
    return answer ? hookIdentity(answer) : null;
  }

  /** The first refresh hook's answer, or null when none answers. */
  refresh(client: ClientContext): Promise<Refreshed | null> {
    return this.firstAnswer('refresh', (hook) => hook(client));
  }

  /** The first rpc hook's answer for a method with no handler; not_found when none answers. */
  async rpc(client: ClientContext, method: string, payload: unknown): Promise<unknown> {
    const answer = await this.firstAnswer('rpc', (hook) => hook(client, method, payload));
    if (!answer) throw new SwitchboardError('not_found', `no RPC method named ${method}`);
    return answer.payload;
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
  async subscribe(client: ClientContext, channel: string, since: StreamPosition | undefined, info: unknown, open: () => boolean): Promise<unknown> {
    await this.callEach(
      'subscribe',
      (hook) => hook(client, channel, since),
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

  /** The first answer that is not empty (nothing, null, undefined), or null: hooks after it are not called. */
  private async firstAnswer<N extends HookName, R>(name: N, call: (hook: NonNullable<Hooks[N]>) => R | Promise<R>): Promise<NonNullable<Awaited<R>> | null> {
    let found: NonNullable<Awaited<R>> | null = null;
    await this.callEach(name, call, (answer) => {
      if (answer === null || answer === undefined) return true;
      found = answer;
      return false;
    });
    return found;
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

/** An identity a hook gave: at its expiry the refresh hooks are asked. */
function hookIdentity(answer: Authenticated): Identity {
  const identity: Identity = {
    user: answer.user ?? null,
    info: answer.info ?? null,
    channels: answer.channels ?? [],
    expiresAt: answer.expiresAt ?? null,
    byHook: true,
  };
  if (answer.subscriptions?.length) identity.subscriptions = answer.subscriptions;
  return identity;
}
