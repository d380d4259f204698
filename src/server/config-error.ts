// A config that cannot be used: its own module, so that the command line can
// tell it apart (exit 2) without loading the config schema and zod.
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}
