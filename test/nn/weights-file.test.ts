/**
 * Every weights file posegrad ships rebuilds its own module from its metadata alone
 * (models/weights-file.ts), and the rebuilt module is the one the trainer built.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RPSTN } from '../../models/rpstn/model.js';
import { writeSafetensors } from '../../models/nn/safetensors.js';
import { loadTrainedModel, WEIGHTS_DIR, type WeightsInfo } from '../../models/train/weights.js';
import type { BaselineArch, ModelName, TrainPreset } from '../../models/train/adapters.js';
import { moduleFromSafetensors, moduleMetadata } from '../../models/weights-file.js';

const files = [
  ...readdirSync(WEIGHTS_DIR).filter((f) => f.endsWith('.safetensors')).map((f) => join(WEIGHTS_DIR, f)),
  ...readdirSync(join(WEIGHTS_DIR, 'movenet')).filter((f) => f.endsWith('.safetensors')).map((f) => join(WEIGHTS_DIR, 'movenet', f)),
];

describe('shipped weights files rebuild their modules', () => {
  it('finds the 7 SynthPose files and the 3 MoveNet files', () => {
    expect(files.length).toBe(10);
  });

  for (const path of files) {
    it(`${path.slice(WEIGHTS_DIR.length + 1)}: rebuilt from its metadata, loaded strictly, equal to the trainer's network`, () => {
      const { module, metadata } = moduleFromSafetensors(new Uint8Array(readFileSync(path)), path);
      expect(module.training).toBe(false);
      // the recorded configuration is the module's own (a round trip gives the same metadata)
      expect(moduleMetadata(module)).toEqual({ 'posegrad.module': metadata['posegrad.module'], 'posegrad.config': metadata['posegrad.config'] });
      if (metadata.posegrad) {
        const info = JSON.parse(metadata.posegrad) as WeightsInfo;
        const { adapter } = loadTrainedModel(info.model as ModelName, info.preset as TrainPreset, info.arch as BaselineArch);
        const a = adapter.module.stateDict();
        const b = module.stateDict();
        expect([...b.keys()]).toEqual([...a.keys()]);
        for (const [k, t] of a) expect(Array.from(b.get(k)!.dataSync()), k).toEqual(Array.from(t.dataSync()));
        adapter.module.dispose();
      }
      module.dispose();
    });
  }

  it("the SynthPose RPSTN rebuilds with its 17 PoseTrack joints, which rpstnPreset('tiny') (13) would not load", () => {
    const { module } = moduleFromSafetensors(new Uint8Array(readFileSync(join(WEIGHTS_DIR, 'rpstn-tiny.safetensors'))));
    expect(module).toBeInstanceOf(RPSTN);
    expect((module as RPSTN).cfg.numJoints).toBe(17);
    expect((module as RPSTN).cfg.jointSet).toBe('posetrack');
    module.dispose();
  });

  it('refuses a file without a module name, with an unknown one, or with a bad configuration', () => {
    const t = { dtype: 'float32' as const, shape: [1], data: new Float32Array(1) };
    expect(() => moduleFromSafetensors(writeSafetensors({ a: t }), 'a.safetensors')).toThrow(/a\.safetensors: expected metadata posegrad\.module naming one of \[MoveNet, HRNet, .*\], got undefined/);
    expect(() => moduleFromSafetensors(writeSafetensors({ a: t }, { 'posegrad.module': 'Transformer' }), 'b')).toThrow(/b: expected metadata posegrad\.module naming one of .* got "Transformer"/);
    expect(() => moduleFromSafetensors(writeSafetensors({ a: t }, { 'posegrad.module': 'RPSTN', 'posegrad.config': '{' }), 'c')).toThrow(/c: expected a RPSTN configuration as JSON in metadata posegrad\.config, got an invalid one/);
  });
});
