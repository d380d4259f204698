// `switchboard/workers`: the broker `serve --workers` uses, for an app that
// runs its own Node cluster (docs/scaling.md, "Workers in your own app"): a
// BrokerHost in the primary, an IpcBroker in each worker, and the two ends of
// the IPC channel between them.
export { BrokerHost, type BrokerHostOptions } from './ipc-host.js';
export { IpcBroker, type IpcBrokerOptions } from './ipc.js';
export { childEndpoint, parentEndpoint, portEndpoint, type IpcEndpoint, type IpcMessage } from './ipc-endpoint.js';
