export * from './codes.js';
export * from './frames.js';
export * from './channels.js';
export * from './codec.js';
export * from './schema.js';
export * from './token-subprotocol.js';
export * from './close-reason.js';
export * from './stats.js';
