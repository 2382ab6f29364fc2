/** Graph visualization: drawable view, DOT, and the standalone HTML viewer. */
export * from './dot.js';
export * from './html.js';
export * from './layout.js';
export * from './memory.js';
export * from './model.js';
export * from './training.js';
export type { ProfileRow, StepPhase, ViewerDoc, ViewerPane } from './viewer/types.js';
