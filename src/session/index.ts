/** The public session API. */
export * from './inference-session.js';
export * from './tensor.js';
export * from './load.js';
