/**
 * Checkpoints: PyTorch `.pth` files (zip, legacy and tar containers) read without Python and
 * without executing pickled code, safetensors save/load, TF.js graph-model weights, state-dict
 * helpers, and training checkpoints for resuming.
 */
export { loadPth, loadPthAsync, detectFormat, type PyValue, type PyKey, type LoadPthOptions, type CheckpointFormat } from './pth.js';
export type { PthTensor } from './torch.js';
export { extractStateDict, stripPrefix, mapKeys, loadInto, toHostStateDict, isHostTensor, STATE_DICT_KEYS, type StateDict, type KeyRule, type KeyMap, type LoadIntoOptions } from './state-dict.js';
export { loadCheckpointFile, saveSafetensors, loadTfjsGraphModelFile } from './files.js';
export { readTfjsGraphModel, tfjsAttr, type TfjsGraphModel, type TfjsGraphNode } from './tfjs.js';
export { trainingCheckpointBytes, restoreTrainingCheckpoint, saveTrainingCheckpoint, loadTrainingCheckpoint, type TrainingState, type TrainingMeta } from './training.js';
export { unpickle, pyAttributes, type PyGlobal, type UnpickleOptions } from './pickle.js';
export type { InflateRaw } from './zip.js';
