// The part of the Standard Schema v1 interface (zod, valibot, arktype...) that
// Switchboard uses to check RPC payloads and client publications.
import { SwitchboardError } from '../../protocol/codes.js';
import { describeIssue } from '../issues.js';

export interface StandardSchema<Input = unknown, Output = Input> {
  readonly '~standard': {
    readonly version: 1;
    readonly vendor: string;
    readonly validate: (value: unknown) => StandardResult<Output> | Promise<StandardResult<Output>>;
    /** Present on typed schemas: how handlers get their argument types from the schema. */
    readonly types?: { readonly input: Input; readonly output: Output } | undefined;
  };
}

type StandardResult<Output> =
  | { readonly value: Output; readonly issues?: undefined }
  | { readonly issues: ReadonlyArray<{ readonly message: string; readonly path?: ReadonlyArray<unknown> }> };

/** The type a schema produces. */
export type SchemaOutput<S> = S extends StandardSchema<unknown, infer O> ? O : unknown;

/** Validate `value`; a failure is bad_request naming `what`, the path and the schema's message. */
export async function validateWith<Output>(schema: StandardSchema<unknown, Output>, value: unknown, what: string): Promise<Output> {
  const result = await schema['~standard'].validate(value);
  if (!result.issues) return result.value;
  const first = result.issues[0] ?? { message: 'invalid' };
  throw new SwitchboardError('bad_request', `invalid payload for ${what}: ${describeIssue(first, null)}`);
}
