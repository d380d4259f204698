// Types that let an application declare its channels' payloads and its RPC
// signatures once, and have both server and client checked against them:
//
//   interface App {
//     channels: { [c: `chat:${string}`]: { text: string }; prices: number };
//     rpc: { add: { input: { a: number; b: number }; output: number } };
//   }
//   const server = createServer<App>(...);   const client = connect<App>(url);
//
// Without a schema every channel and method accepts `unknown`.

export interface AppSchema {
  channels?: Record<string, unknown>;
  rpc?: Record<string, { input: unknown; output: unknown }>;
}

/**
 * The default: any channel and method, payloads typed `any` as JSON.parse's
 * are, so that handlers may annotate their own parameter types.
 */
export interface AnySchema {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the public default (above): handlers annotate their own types
  channels: Record<string, any>;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- likewise
  rpc: Record<string, { input: any; output: any }>;
}

type Channels<S extends AppSchema> = S['channels'] extends Record<string, unknown> ? S['channels'] : Record<string, unknown>;
type Methods<S extends AppSchema> =
  S['rpc'] extends Record<string, { input: unknown; output: unknown }> ? S['rpc'] : Record<string, { input: unknown; output: unknown }>;

export type ChannelName<S extends AppSchema> = keyof Channels<S> & string;
export type ChannelPayload<S extends AppSchema, C extends string> = C extends keyof Channels<S> ? Channels<S>[C] : unknown;
export type MethodName<S extends AppSchema> = keyof Methods<S> & string;
export type RpcInput<S extends AppSchema, M extends string> = M extends keyof Methods<S> ? Methods<S>[M]['input'] : unknown;
export type RpcOutput<S extends AppSchema, M extends string> = M extends keyof Methods<S> ? Methods<S>[M]['output'] : unknown;
