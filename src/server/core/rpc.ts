// RPC methods registered by the application. A method may carry a schema in
// the Standard Schema form (zod, valibot, arktype...), checked before the
// handler runs so that handlers only ever see valid input.
import { SwitchboardError } from '../../protocol/codes.js';
import type { ClientContext } from './hooks.js';
import { validateWith, type StandardSchema } from './standard-schema.js';

export type { StandardSchema } from './standard-schema.js';

/** An RPC method's handler, told who called it. */
export type RpcHandler<In = unknown, Out = unknown> = (payload: In, context: ClientContext) => Out | Promise<Out>;

interface Method {
  handler: RpcHandler<unknown, unknown>;
  schema: StandardSchema | undefined;
}

/**
 * Told of every call when it settles: the method (registered names only, so
 * that a client cannot make up label values), the outcome ('ok' or the error
 * code) and how long it took in seconds.
 */
export type RpcObserver = (method: string, outcome: string, seconds: number) => void;

/** The method label of calls to names that are not registered. */
export const UNKNOWN_METHOD = '(unknown)';

export class RpcRegistry {
  private readonly methods = new Map<string, Method>();
  observer: RpcObserver | null = null;

  /** `timeout`: ms a handler may take before the caller is answered `timeout` (it may still finish). */
  constructor(private readonly timeout = 30_000) {}

  register<In, Out>(name: string, handler: RpcHandler<In, Out>, schema?: StandardSchema<In>): void {
    if (this.methods.has(name)) throw new Error(`RPC method ${name} is already registered`);
    this.methods.set(name, { handler: handler as RpcHandler, schema });
  }

  has(name: string): boolean {
    return this.methods.has(name);
  }

  async call(name: string, payload: unknown, context: ClientContext): Promise<unknown> {
    const started = performance.now();
    const label = this.methods.has(name) ? name : UNKNOWN_METHOD;
    try {
      const result = await this.invoke(name, payload, context);
      this.observer?.(label, 'ok', (performance.now() - started) / 1000);
      return result;
    } catch (error) {
      // What the dispatcher will answer: the error's code, or internal for anything else.
      const outcome = error instanceof SwitchboardError ? error.code : 'internal';
      this.observer?.(label, outcome, (performance.now() - started) / 1000);
      throw error;
    }
  }

  private async invoke(name: string, payload: unknown, context: ClientContext): Promise<unknown> {
    const method = this.methods.get(name);
    if (!method) throw new SwitchboardError('not_found', `no RPC method named ${name}`);
    const input = method.schema ? await validateWith(method.schema, payload, name) : payload;
    // A handler that never settles must not hold the caller's request slot forever.
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new SwitchboardError('timeout', `${name} did not answer within ${this.timeout} ms`)), this.timeout);
      timer.unref();
    });
    try {
      return await Promise.race([method.handler(input, context), expired]);
    } finally {
      clearTimeout(timer);
    }
  }
}
