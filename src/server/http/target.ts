// Request targets as URLs, parsed in one place that never throws. `new URL`
// throws on targets Node's HTTP parser lets through (`//:99999/ws`), and its
// TypeError carries the whole target, token included, in `input`: callers get
// null instead, answer 400, and nothing about the target reaches a log.

const BASE = 'http://localhost';

export const BAD_TARGET_MESSAGE = 'the request target is not a valid URL';

export function parseTarget(target: string | undefined): URL | null {
  try {
    return new URL(target ?? '/', BASE);
  } catch {
    return null;
  }
}
