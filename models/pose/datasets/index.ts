/** Dataset readers (pure parsers; the Node file readers are in io.ts, exported separately). */
export * from './jhmdb.js';
export * from './pennaction.js';
export * from './posetrack.js';
export * from './types.js';
