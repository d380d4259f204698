// One way to say what a schema refused, for every schema there is: the
// config, HTTP API bodies, client frames (zod) and the application's publish
// and RPC schemas (any Standard Schema library). `path: message`, the path
// dotted, with `whole` standing in for an empty path.

/** An issue as zod and every Standard Schema library report it. */
export interface Issue {
  readonly message: string;
  readonly path?: ReadonlyArray<unknown> | undefined;
}

/** `limits.maxPayload: Too small…`; with an empty path `whole` names the thing, or the message stands alone when it is null. */
export function describeIssue(issue: Issue, whole: string | null): string {
  const path = (issue.path ?? []).map(segment).join('.');
  const where = path || whole;
  return where ? `${where}: ${issue.message}` : issue.message;
}

/** A path segment: a key, or a Standard Schema `{key}` object. */
function segment(part: unknown): string {
  return typeof part === 'object' && part !== null && 'key' in part ? String((part as { key: unknown }).key) : String(part);
}
