/** Pose metrics: PoseTrack mAP with poseval's semantics, PCK@α, ignore-region polygons. */
export * from './pck.js';
export * from './polygon.js';
export * from './poseval.js';
