// How deep a frame or an API body may nest, checked before it is parsed or
// passed on: V8 parses very deep JSON, but cannot serialise it again for
// subscribers or history. Shared by the frame parser and the HTTP API.

/** Frames and bodies nested deeper than this are refused. */
export const MAX_DEPTH = 64;

/** Deepest nesting of arrays and objects in JSON text, ignoring brackets inside strings. */
export function jsonDepth(text: string): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) deepest = Math.max(deepest, ++depth);
    else if (c === 0x5d || c === 0x7d) depth--;
  }
  return deepest;
}

/** True when JSON text nests deeper than MAX_DEPTH (text shorter than twice that cannot). */
export function tooDeep(text: string): boolean {
  return text.length > 2 * MAX_DEPTH && jsonDepth(text) > MAX_DEPTH;
}

/** True when arrays and objects in `value` nest deeper than `max`; stops as soon as they do. */
export function nestedDeeperThan(value: unknown, max: number): boolean {
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length > 0) {
    const [item, depth] = stack.pop()!;
    if (typeof item !== 'object' || item === null || ArrayBuffer.isView(item)) continue;
    if (depth + 1 > max) return true;
    for (const child of Object.values(item)) stack.push([child, depth + 1]);
  }
  return false;
}
