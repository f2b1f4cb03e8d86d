/**
 * MoveNet (Google, 2021): pretrained single- and multi-person pose estimation, as posegrad modules
 * with TF.js parity. See docs/models/movenet.md.
 *
 *   import { movenet } from 'posegrad';
 *   const model = movenet.moveNetFromSafetensors(bytes);        // assets/weights/movenet/thunder.safetensors
 *   const out = model.forward(x);                                // x [B, 3, 256, 256] RGB 0..255
 *   const pose = movenet.decodeSinglePose(await movenet.readMoveNetOutput(out, [256, 256], model.center_weight), model.config);
 */
export * from './config.js';
export * from './movenet.js';
export * from './decode.js';
export * from './load.js';
export * from './pipeline.js';
export { moveNetFromTfjsGraph, moveNetKey, tfKernelToTorch } from './convert.js';
export { samePadding, TfConv2d, SeparableConv2d } from './layers.js';
