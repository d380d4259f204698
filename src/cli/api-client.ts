// Calls to the HTTP API (docs/protocol.md, "HTTP API") for the operator
// commands: shared flags, the apikey header, and errors as one line.
import type { Flag, Parsed } from './args.js';
import { UsageError } from './args.js';
import { safeFor, safeLinesFor } from './terminal-safe.js';

export const apiFlags: Record<string, Flag> = {
  url: { type: 'string', value: 'URL', env: true, default: 'http://127.0.0.1:8080', help: "the server's HTTP address" },
  'api-key': { type: 'string', value: 'KEY', env: true, help: "the server's apiKey (required)" },
  json: { type: 'boolean', help: "print the API's JSON answer instead of a table" },
};

/** The API answered with an error status. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface Api {
  get(path: string, query?: Record<string, string | undefined>): Promise<unknown>;
  post(path: string, body: unknown): Promise<unknown>;
}

export function apiFrom(values: Parsed['values']): Api {
  const apiKey = values['api-key'] as string | undefined;
  if (!apiKey) throw new UsageError('missing --api-key (or SWITCHBOARD_API_KEY)');
  let base: URL;
  try {
    base = new URL(values.url as string);
  } catch {
    throw new UsageError(`--url: not a URL: '${String(values.url)}'`);
  }
  const call = async (method: string, path: string, query: Record<string, string | undefined> = {}, body?: unknown) => {
    const url = new URL(path, base);
    for (const [key, value] of Object.entries(query)) if (value !== undefined) url.searchParams.set(key, value);
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers: { Authorization: `apikey ${apiKey}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    } catch (error) {
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      throw new Error(`cannot reach ${base.origin}: ${cause?.code ?? cause?.message ?? (error as Error).message}`, { cause: error });
    }
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // an answer from something that is not Switchboard: keep the text
    }
    if (!response.ok) {
      const error = (parsed as { error?: { code?: string; message?: string } }).error;
      throw new ApiError(response.status, error?.code ?? 'http', `${response.status} ${error?.code ?? ''}: ${error?.message ?? text}`.replace(' :', ':'));
    }
    return parsed;
  };
  return {
    get: (path, query) => call('GET', path, query),
    post: (path, body) => call('POST', path, {}, body),
  };
}

/** Print rows as an aligned table; cells are strings, their controls escaped on a terminal. */
export function printTable(header: string[], rows: string[][]): void {
  const safe = safeFor(process.stdout);
  const table = [header, ...rows].map((cells) => cells.map(safe));
  const widths = header.map((_h, i) => Math.max(...table.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  process.stdout.write(`${table.map(line).join('\n')}\n`);
}

export function printJson(value: unknown): void {
  process.stdout.write(`${safeLinesFor(process.stdout, JSON.stringify(value, null, 2))}\n`);
}

/** A cell: strings as they are, anything else as compact JSON. */
export function cell(value: unknown): string {
  if (value === undefined || value === null) return '-';
  return typeof value === 'string' ? value : JSON.stringify(value);
}
