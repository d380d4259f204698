// Type-level tests, checked by `npm run typecheck` (part of npm test) and never
// run: each @ts-expect-error fails the check if the line it marks compiles.
import { connect } from '../../src/client/index.js';
import { z } from 'zod';
import { createServer } from '../../src/server/index.js';

interface App {
  channels: { [channel: `chat:${string}`]: { text: string }; prices: number };
  rpc: { add: { input: { a: number; b: number }; output: number } };
}

export function checkServer(): void {
  const server = createServer<App>();
  server.rpc('add', ({ a, b }) => a + b);
  // @ts-expect-error: the output must be a number
  server.rpc('add', ({ a }) => `${a}`);
  // @ts-expect-error: unknown method
  server.rpc('subtract', () => 0);
  void server.publish('chat:lobby', { text: 'hi' });
  void server.publish('prices', 42);
  // @ts-expect-error: wrong payload for prices
  void server.publish('prices', 'forty-two');
  // @ts-expect-error: chat payloads need text
  void server.publish('chat:lobby', { body: 'hi' });
}

export async function checkClient(): Promise<void> {
  const client = connect<App>('ws://localhost/ws');
  const sum: number = await client.rpc('add', { a: 1, b: 2 });
  // @ts-expect-error: b is missing
  await client.rpc('add', { a: 1 });
  // @ts-expect-error: the result is a number, not a string
  const wrong: string = await client.rpc('add', { a: 1, b: 2 });
  client.subscribe('chat:general', (message) => message.text.toUpperCase());
  // @ts-expect-error: prices carry numbers
  client.subscribe('prices', (price: string) => price);
  // @ts-expect-error: not a declared channel
  client.subscribe('weather', () => {});
  void [sum, wrong];
}

export function checkUntyped(): void {
  // Without a schema, anything goes and handlers annotate their own types.
  const server = createServer();
  server.rpc('echo', (payload: { x: number }) => payload.x);
  void server.publish('anything', { at: 'all' });
  const client = connect('ws://localhost/ws');
  client.subscribe('anything', (payload: { at: string }) => payload.at);
}

export function checkSchemaTypedHandlers(): void {
  // The handler's argument type comes from its schema: written once.
  const server = createServer();
  const add = z.object({ a: z.number(), b: z.number() });
  server.rpc('add', add, ({ a, b }) => a + b);
  // @ts-expect-error: the schema says a is a number, not a string
  server.rpc('shout', add, ({ a }) => a.toUpperCase());
  // @ts-expect-error: the schema has no c
  server.rpc('third', add, ({ c }) => c);

  const typed = createServer<App>();
  typed.rpc('add', add, ({ a, b }) => a + b);
  // @ts-expect-error: App says add answers a number
  typed.rpc('add', add, ({ a }) => `${a}`);
}

export async function checkTypedReads(): Promise<void> {
  const client = connect<App>('ws://localhost/ws');
  const page = await client.history('prices');
  const price: number = page.publications[0]!.payload;
  // @ts-expect-error: prices carry numbers
  const wrong: string = page.publications[0]!.payload;
  const again = client.subscribe('prices', () => {});
  const same: typeof again | undefined = client.getSubscription('prices');
  const server = createServer<App>();
  const stored = await server.history('chat:lobby');
  const text: string = stored.publications[0]!.payload.text;
  void [price, wrong, again, same, text];
}
