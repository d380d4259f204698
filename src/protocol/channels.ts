// Channel names and namespaces (docs/protocol.md, "Channels").

const CHANNEL_NAME = /^[A-Za-z0-9_\-:.@#/]{1,255}$/;

export function isValidChannelName(name: string): boolean {
  return CHANNEL_NAME.test(name);
}

/** The namespace is the part before the first ':'; '' when there is none. */
export function namespaceOf(channel: string): string {
  const colon = channel.indexOf(':');
  return colon === -1 ? '' : channel.slice(0, colon);
}

/**
 * For a personal channel, the user it belongs to: everything after the first
 * `#` (so `inbox#team#7` belongs to `team#7`, never to `7`); otherwise null.
 * Namespace names cannot hold `#`, so the first one always starts the user id.
 */
export function userOfChannel(channel: string): string | null {
  const hash = channel.indexOf('#');
  if (hash === -1) return null;
  const user = channel.slice(hash + 1);
  return user.length > 0 ? user : null;
}
