// Flags for every command: one declaration gives the parser (Node's own
// util.parseArgs in strict mode, so an unknown flag is an error), the --help
// text with defaults and examples, and the SWITCHBOARD_<FLAG> fallbacks.
import { parseArgs } from 'node:util';

export interface Flag {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
  /** Shown in --help and used when neither the flag nor its variable is set. */
  default?: string;
  /** Placeholder in --help, e.g. URL. */
  value?: string;
  /** Falls back to SWITCHBOARD_<FLAG> when absent. */
  env?: boolean;
  help: string;
}

export interface CommandSpec {
  name: string;
  summary: string;
  /** Arguments after the command name, e.g. "CHANNEL [JSON]". */
  args: string;
  /** Inclusive bounds on positionals. */
  positionals: [min: number, max: number];
  flags: Record<string, Flag>;
  examples: string[];
  /** Extra paragraphs after the flags. */
  notes?: string;
}

export interface Parsed {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
}

export interface Command {
  spec: CommandSpec;
  run(parsed: Parsed): Promise<void>;
}

/** A mistake in how the command was called: one line on stderr, exit 2. */
export class UsageError extends Error {}

export function envName(flag: string): string {
  return `SWITCHBOARD_${flag.toUpperCase().replace(/-/g, '_')}`;
}

/** Parse argv for a command; null means --help was printed. */
export function parseCommand(spec: CommandSpec, argv: string[], env: NodeJS.ProcessEnv = process.env): Parsed | null {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = {
    help: { type: 'boolean', short: 'h' },
  };
  for (const [name, flag] of Object.entries(spec.flags)) {
    options[name] = { type: flag.type, ...(flag.short ? { short: flag.short } : {}), ...(flag.multiple ? { multiple: true } : {}) };
  }
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: argv, options, strict: true, allowPositionals: true });
  } catch (error) {
    throw new UsageError(describeParseError(error as Error));
  }
  if (parsed.values.help) {
    process.stdout.write(helpText(spec));
    return null;
  }
  const [min, max] = spec.positionals;
  const count = parsed.positionals.length;
  if (count < min) throw new UsageError(`missing ${spec.args.split(' ')[count] ?? 'argument'} (usage: switchboard ${spec.name} ${spec.args})`);
  if (count > max) throw new UsageError(`unexpected argument '${parsed.positionals[max]}' (usage: switchboard ${spec.name} ${spec.args})`);
  const values = { ...parsed.values } as Parsed['values'];
  for (const [name, flag] of Object.entries(spec.flags)) {
    if (values[name] === undefined && flag.env && env[envName(name)] !== undefined) values[name] = env[envName(name)];
    if (values[name] === undefined && flag.default !== undefined) values[name] = flag.type === 'boolean' ? flag.default === 'true' : flag.default;
  }
  return { values, positionals: parsed.positionals };
}

/** parseArgs explains at length; keep the first sentence, which names the flag. */
function describeParseError(error: Error): string {
  const unknown = /Unknown option '([^']+)'/.exec(error.message);
  if (unknown) return `unknown option '${unknown[1]}'`;
  return error.message.split(/\.\s/)[0]!.replace(/^Option/, 'option');
}

export function helpText(spec: CommandSpec): string {
  const rows = Object.entries(spec.flags).map(([name, flag]) => {
    const left = `${flag.short ? `-${flag.short}, ` : '    '}--${name}${flag.type === 'string' ? ` ${flag.value ?? 'VALUE'}` : ''}`;
    const extra = [
      flag.default !== undefined ? `default ${flag.default}` : '',
      flag.env ? `env ${envName(name)}` : '',
      flag.multiple ? 'repeatable' : '',
    ].filter(Boolean);
    return [left, `${flag.help}${extra.length ? ` (${extra.join('; ')})` : ''}`] as const;
  });
  rows.push(['-h, --help', 'print this help']);
  const width = Math.max(...rows.map(([left]) => left.length)) + 2;
  return [
    `usage: switchboard ${spec.name} ${spec.args}`.trimEnd(),
    '',
    spec.summary,
    '',
    'options:',
    ...rows.map(([left, right]) => `  ${left.padEnd(width)}${right}`),
    ...(spec.notes ? ['', spec.notes] : []),
    '',
    'examples:',
    ...spec.examples.map((example) => `  ${example}`),
    '',
  ].join('\n');
}

/** A string flag as a number, or a usage error naming the flag. */
export function numberFlag(values: Parsed['values'], name: string, { min = 0, integer = true } = {}): number {
  const raw = values[name];
  const value = Number(raw);
  if (typeof raw !== 'string' || raw.trim() === '' || !Number.isFinite(value) || value < min || (integer && !Number.isInteger(value))) {
    throw new UsageError(`--${name}: expected ${integer ? 'an integer' : 'a number'} ≥ ${min}, got '${String(raw)}'`);
  }
  return value;
}

/** `--header 'NAME: VALUE'` flags (and `--token` as a bearer header) as a header object. */
export function headerFlags(values: Parsed['values']): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const header of (values.header as string[] | undefined) ?? []) {
    const colon = header.indexOf(':');
    if (colon <= 0) throw new UsageError(`--header: expected 'NAME: VALUE', got '${header}'`);
    headers[header.slice(0, colon).trim()] = header.slice(colon + 1).trim();
  }
  if (values.token) headers.Authorization = `Bearer ${values.token as string}`;
  return headers;
}
