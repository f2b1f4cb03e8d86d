/**
 * VREMD against its PyTorch reference (test/reference/vremd.py) at the `tiny` preset with 5 joints:
 * the state dict is read from torch.save files in both the zip and the legacy format and loaded key
 * for key; then, in float64, the backbone tokens and heatmaps of a 3-frame crop, every intermediate
 * of a batch-of-2 forward from tokens (H_t, H_k, H_m, F, M, both masks, T_t, DCA sampling points),
 * the gradient of Σ H_t·gout with respect to the tokens, and the gradients of 17 parameters across
 * HKME, DCA (incl. the offset path θ, ψ, W_z), the cross attention and the heads.
 *
 * Tolerance: atol 1e-9 + rtol 1e-8 in float64. Both sides start from identical float16-representable
 * weights, so the differences are float64 rounding in differently ordered sums (observed ≤ 1e-12
 * relative); the bound leaves room for that, not for any modelling difference (which shows at 1e-3
 * or more).
 */
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { tidy } from '../../engine/engine.js';
import { tensor } from '../../ops/creation.js';
import { extractStateDict, loadCheckpointFile } from '../../models/nn/checkpoint/index.js';
import { readSafetensors, type HostTensor } from '../../models/nn/safetensors.js';
import { createVREMD, vremdPreset, type VREMD } from '../../models/vremd/index.js';
import { assertClose } from '../helpers/close.js';
import { readFileSync } from 'node:fs';

const dir = (f: string): string => fileURLToPath(new URL(`../fixtures/models/${f}`, import.meta.url));
const TOL = { atol: 1e-9, rtol: 1e-8 };

const fx = readSafetensors(new Uint8Array(readFileSync(dir('vremd_tiny.safetensors'))));
const get = (k: string): HostTensor => {
  const t = fx.tensors.get(k);
  if (!t) throw new Error(`fixture: no '${k}'`);
  return t;
};

/** The closed-form crops of vremd.py's frames_formula, [1, 3, 3, 64, 48]. */
function framesFormula(): Float64Array {
  const v = new Float64Array(3 * 3 * 64 * 48);
  let i = 0;
  for (let t = 0; t < 3; t++) for (let c = 0; c < 3; c++) for (let y = 0; y < 64; y++) for (let x = 0; x < 48; x++) v[i++] = Math.sin(0.37 * x + 0.23 * y + 1.1 * c + 0.7 * t) + 0.5 * Math.cos(0.05 * x * y - 0.4 * c + t);
  return v;
}

async function build(file: string): Promise<VREMD> {
  const sd = extractStateDict(await loadCheckpointFile(dir(file)));
  const m = createVREMD(vremdPreset('tiny', { numJoints: 5 }));
  m.toDtype('float64');
  const r = m.loadStateDict(sd);
  expect(r.missingKeys).toEqual([]);
  expect(r.unexpectedKeys).toEqual([]);
  m.eval();
  return m;
}

describe('VREMD parity with PyTorch (tiny, J = 5)', () => {
  it('loads the zip and the legacy .pth to the same parameters, key for key', async () => {
    const a = await build('vremd_tiny.zip.pth');
    const b = await build('vremd_tiny.legacy.pth');
    const sa = a.stateDict();
    const sb = b.stateDict();
    expect([...sa.keys()]).toEqual([...sb.keys()]);
    expect(sa.size).toBeGreaterThan(100);
    for (const [k, t] of sa) expect(Array.from(t.dataSync()), k).toEqual(Array.from(sb.get(k)!.dataSync()));
    a.dispose();
    b.dispose();
  });

  it('matches the backbone tokens and heatmaps of a 3-frame crop (frames path)', async () => {
    const m = await build('vremd_tiny.zip.pth');
    tidy(() => {
      const v = framesFormula();
      let s = 0;
      let s2 = 0;
      for (const x of v) {
        s += x;
        s2 += x * x;
      }
      assertClose([s, s2, v[((2 * 3 + 1) * 64 + 40) * 48 + 7]!], get('frames_checksum').data, { atol: 1e-9, rtol: 1e-12 }, 'frames formula');
      const frames = tensor(v, { dtype: 'float64', shape: [1, 3, 3, 64, 48] });
      const out = m.forwardDetailed({ frames });
      assertClose(out.features.dataSync(), get('tokens_f').data, TOL, 'backbone tokens');
      assertClose(out.heatmaps.dataSync(), get('heatmaps_f').data, TOL, 'heatmaps from frames');
      expect(out.features.requiresGrad).toBe(false);
    });
    m.dispose();
  });

  it('matches every intermediate, the token gradient and parameter gradients (tokens path, B = 2)', async () => {
    const m = await build('vremd_tiny.legacy.pth');
    tidy(() => {
      const tokens = tensor(get('tokens').data, { dtype: 'float64', shape: get('tokens').shape, requiresGrad: true });
      const out = m.forwardDetailed({ tokens });
      const pairs: [string, ReturnType<typeof m.forwardDetailed>[keyof ReturnType<typeof m.forwardDetailed>]][] = [
        ['heatmaps', out.heatmaps],
        ['hk', out.hk],
        ['hm', out.hm],
        ['F', out.F],
        ['M', out.M],
        ['mask_h', out.humanMask],
        ['mask_k', out.keypointMask],
        ['key_tokens', out.keyTokens],
        ['points_f', out.pointsF],
        ['points_b', out.pointsB],
      ];
      for (const [k, t] of pairs) {
        expect(t, k).not.toBeNull();
        expect(t!.shape, k).toEqual(get(k).shape);
        assertClose(t!.dataSync(), get(k).data, TOL, k);
      }
      out.heatmaps.backward(tensor(get('gout').data, { dtype: 'float64', shape: get('gout').shape }));
      assertClose(tokens.grad!.dataSync(), get('grad_tokens').data, TOL, 'grad of tokens');
      const params = new Map(m.namedParameters());
      const names = [...fx.tensors.keys()].filter((k) => k.startsWith('grad.'));
      expect(names.length).toBe(17);
      for (const k of names) {
        const p = params.get(k.slice(5));
        expect(p, k).toBeDefined();
        expect(p!.grad, k).not.toBeNull();
        assertClose(p!.grad!.dataSync(), get(k).data, TOL, k);
      }
      // The frozen backbone gets no gradient.
      for (const p of m.backbone.parameters()) expect(p.grad).toBeNull();
    });
    m.zeroGrad();
    m.dispose();
  });
});
