/** `kiln serve`: models as an HTTP API (Open Inference Protocol v2 REST and TensorFlow Serving's REST predict). */
export { Server, type ServerOptions, type V2Metadata } from './server.js';
export { ModelRepository, ModelVersion, ModelConfigError, readModelConfig, type ModelConfig } from './repository.js';
export { Batcher, RunLock, batchable } from './batcher.js';
export { Metrics } from './metrics.js';
export * from './errors.js';
export { wireDatatype, dtypeOfWire, wireShape } from './codec.js';
