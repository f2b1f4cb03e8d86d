/**
 * HRNet for pose (Sun et al., "Deep High-Resolution Representation Learning for Human Pose
 * Estimation", CVPR 2019), with the official `PoseHighResolutionNet` module and parameter names
 * (`conv1`, `layer1`, `transition1`, `stage2.0.branches.0.0.conv1`, `stage2.0.fuse_layers.0.1.0`,
 * `final_layer`), so that an official checkpoint (pose_hrnet_w48_384x288.pth) loads key for key.
 *
 * Structure (W = width, 32 or 48; branch widths W, 2W, 4W, 8W):
 *   stem: conv3x3/2 (64) → BN → ReLU → conv3x3/2 (64) → BN → ReLU         [N, 64, H/4, W/4]
 *   layer1: 4 Bottlenecks (64 → 256)
 *   transition1 → stage2 (1 module, 2 branches) → transition2 → stage3 (4 modules, 3 branches)
 *   → transition3 → stage4 (3 modules, 4 branches; the last module outputs branch 0 only)
 *   final_layer: 1x1 conv W → K heatmaps                                    [N, K, H/4, W/4]
 * Each module runs 4 BasicBlocks per branch, then fuses: a lower-resolution branch j goes up to i
 * by a 1x1 conv + BN + nearest upsampling ×2^(j-i); a higher-resolution one goes down by (i-j)
 * 3x3 stride-2 convs + BN (ReLU between them); the sums pass through ReLU.
 *
 * Memory: every forward frees each intermediate once it is dead (`freeIntermediates`: at once
 * under noGrad, left to the autograd graph and the enclosing tidy under grad), so an inference
 * pass holds about what PyTorch's does: the blocks' input, the current conv/BN output and the
 * residual, not every output of a block or stage until it returns.
 */
import { freeIntermediates } from '../../engine/engine.js';
import type { Tensor } from '../../engine/tensor.js';
import { add, relu } from '../../ops/elementwise.js';
import { interpolate } from '../../ops/resample.js';
import { constant_, normal_ } from '../nn/init.js';
import { BatchNorm2d, Conv2d, ConvTranspose2d, ReLU, Sequential, type TensorModule } from '../nn/layers.js';
import { Module } from '../nn/module.js';
import { applyAndFree, BasicBlock, Bottleneck } from './resnet.js';

export interface HRNetConfig {
  /** Channels of the highest-resolution branch; the others are 2W, 4W, 8W (32 or 48 in the paper). */
  width: number;
  /** Heatmap channels of final_layer (17 for COCO/PoseTrack). */
  numJoints: number;
  /** Stem channels (64). */
  stemChannels?: number;
  /** Bottleneck planes in layer1 (64, so 256 channels out). */
  layer1Planes?: number;
  /** Bottlenecks in layer1 (4). */
  layer1Blocks?: number;
  /** HighResolutionModules in stages 2, 3, 4 ([1, 4, 3]). */
  stageModules?: readonly [number, number, number];
  /** BasicBlocks per branch in every module (4). */
  blocksPerBranch?: number;
  /** Kernel of final_layer (1, as the official configs). */
  finalConvKernel?: 1 | 3;
}

/** The paper's configurations, and the small ones used for demos and tests. */
export const HRNET_PRESETS = {
  w48: { width: 48, numJoints: 17 },
  w32: { width: 32, numJoints: 17 },
  /** For demos on a CPU: one module per stage, one block per branch. */
  small: { width: 16, numJoints: 17, stemChannels: 32, layer1Planes: 16, layer1Blocks: 1, stageModules: [1, 1, 1], blocksPerBranch: 1 },
  /** For tests: a few channels. */
  tiny: { width: 4, numJoints: 17, stemChannels: 8, layer1Planes: 4, layer1Blocks: 1, stageModules: [1, 1, 1], blocksPerBranch: 1 },
} as const satisfies Record<string, HRNetConfig>;

/** A list whose slots may be empty (PyTorch's ModuleList holding None), keeping indices in names. */
class SlotList<M extends Module = TensorModule> extends Module {
  readonly slots: (M | null)[];
  constructor(slots: (M | null)[]) {
    super();
    this.slots = slots.map((m, i) => this.module(String(i), m));
  }
}

class Upsample extends Module implements TensorModule {
  constructor(readonly factor: number) {
    super();
  }
  forward(x: Tensor): Tensor {
    return interpolate(x, { scaleFactor: this.factor, mode: 'nearest' });
  }
}

const conv3 = (cin: number, cout: number, stride: number): Conv2d => new Conv2d(cin, cout, 3, { stride, padding: 1, bias: false });

/**
 * One HighResolutionModule: parallel branches of BasicBlocks, then the exchange unit (fuse_layers).
 * forward(xs: one [N, C_i, H/2^i, W/2^i] tensor per branch) → one tensor per output branch.
 */
export class HighResolutionModule extends Module {
  readonly branches: Module;
  readonly fuseLayers: Module;
  private readonly branchList: Sequential[];
  private readonly fuse: SlotList[];

  constructor(readonly channels: readonly number[], blocks: number, readonly multiScaleOutput: boolean) {
    super();
    this.branchList = channels.map((c) => new Sequential(...Array.from({ length: blocks }, () => new BasicBlock(c, c))));
    this.branches = this.module('branches', new SlotList(this.branchList));
    const nb = channels.length;
    this.fuse = [];
    for (let i = 0; i < (multiScaleOutput ? nb : 1); i++) {
      const row: (TensorModule | null)[] = [];
      for (let j = 0; j < nb; j++) {
        if (j > i) {
          row.push(new Sequential(new Conv2d(channels[j]!, channels[i]!, 1, { bias: false }), new BatchNorm2d(channels[i]!), new Upsample(2 ** (j - i))));
        } else if (j === i) {
          row.push(null);
        } else {
          const steps: TensorModule[] = [];
          for (let k = 0; k < i - j; k++) {
            if (k === i - j - 1) steps.push(new Sequential(conv3(channels[j]!, channels[i]!, 2), new BatchNorm2d(channels[i]!)));
            else steps.push(new Sequential(conv3(channels[j]!, channels[j]!, 2), new BatchNorm2d(channels[j]!), new ReLU()));
          }
          row.push(new Sequential(...steps));
        }
      }
      this.fuse.push(new SlotList(row));
    }
    this.fuseLayers = this.module('fuse_layers', new SlotList(this.fuse));
  }

  forward(xs: readonly Tensor[]): Tensor[] {
    const ys = xs.map((x, i) => this.branchList[i]!.forward(x));
    if (ys.length === 1) return ys;
    // The branch outputs feed every row, so they are freed after the last; each row's partial
    // sums and resampled branches are freed as soon as they are added.
    const own = (t: Tensor): Tensor | null => (ys.includes(t) ? null : t);
    const out = this.fuse.map((row, i) => {
      let y = i === 0 ? ys[0]! : row.slots[0]!.forward(ys[0]!);
      for (let j = 1; j < ys.length; j++) {
        const z = i === j ? ys[j]! : row.slots[j]!.forward(ys[j]!);
        const next = add(y, z);
        freeIntermediates(own(y), own(z));
        y = next;
      }
      return applyAndFree(y, relu);
    });
    freeIntermediates(...ys);
    return out;
  }
}

/** A stage: a Sequential of HighResolutionModules named '0', '1', ... */
class Stage extends Module {
  readonly mods: HighResolutionModule[];
  constructor(channels: readonly number[], modules: number, blocks: number, multiScaleLast: boolean) {
    super();
    this.mods = Array.from({ length: modules }, (_, m) => this.module(String(m), new HighResolutionModule(channels, blocks, m < modules - 1 || multiScaleLast)));
  }
  forward(xs: readonly Tensor[]): Tensor[] {
    let ys = [...xs];
    for (const m of this.mods) {
      const next = m.forward(ys);
      // a module's inputs are dead once it has run (never the stage's own inputs xs)
      freeIntermediates(...ys.filter((t) => !next.includes(t)));
      ys = next;
    }
    return ys;
  }
}

function transition(pre: readonly number[], cur: readonly number[]): SlotList {
  const slots: (TensorModule | null)[] = cur.map((c, i) => {
    if (i < pre.length) return c !== pre[i] ? new Sequential(conv3(pre[i]!, c, 1), new BatchNorm2d(c), new ReLU()) : null;
    const steps: TensorModule[] = [];
    for (let j = 0; j < i + 1 - pre.length; j++) {
      const inC = pre[pre.length - 1]!;
      const outC = j === i - pre.length ? c : inC;
      steps.push(new Sequential(conv3(inC, outC, 2), new BatchNorm2d(outC), new ReLU()));
    }
    return new Sequential(...steps);
  });
  return new SlotList(slots);
}

/** Which features `forwardFeatures` returns. */
export interface HRNetFeatures {
  /** The highest-resolution branch after the requested stage: [N, W, H/4, W/4]. */
  features: Tensor;
  /** final_layer(features) [N, K, H/4, W/4]; only after stage 4. */
  heatmaps: Tensor | null;
}

/**
 * PoseHighResolutionNet. forward(x [N, 3, H, W]) → heatmaps [N, K, H/4, W/4].
 * `forwardFeatures(x, 3)` stops after stage 3 (GLPose uses that branch, 'V' in its paper);
 * `forwardFeatures(x, 4)` returns the final W-channel features and the heatmaps (FaSRnet).
 * Init as the official code: convs N(0, 0.001) with zero bias, BN weight 1 and bias 0.
 */
export class HRNet extends Module implements TensorModule {
  readonly cfg: Required<HRNetConfig>;
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly conv2: Conv2d;
  readonly bn2: BatchNorm2d;
  readonly layer1: Sequential;
  private readonly t1: SlotList;
  private readonly s2: Stage;
  private readonly t2: SlotList;
  private readonly s3: Stage;
  private readonly t3: SlotList;
  private readonly s4: Stage;
  readonly finalLayer: Conv2d;

  constructor(config: HRNetConfig) {
    super();
    const cfg: Required<HRNetConfig> = { stemChannels: 64, layer1Planes: 64, layer1Blocks: 4, stageModules: [1, 4, 3], blocksPerBranch: 4, finalConvKernel: 1, ...config };
    this.cfg = cfg;
    const W = cfg.width;
    const s = cfg.stemChannels;
    this.conv1 = this.module('conv1', conv3(3, s, 2));
    this.bn1 = this.module('bn1', new BatchNorm2d(s));
    this.conv2 = this.module('conv2', conv3(s, s, 2));
    this.bn2 = this.module('bn2', new BatchNorm2d(s));
    const l1out = cfg.layer1Planes * 4;
    const blocks: TensorModule[] = [];
    for (let b = 0; b < cfg.layer1Blocks; b++) {
      const inC = b === 0 ? s : l1out;
      const down = inC !== l1out ? new Sequential(new Conv2d(inC, l1out, 1, { bias: false }), new BatchNorm2d(l1out)) : null;
      blocks.push(new Bottleneck(inC, cfg.layer1Planes, 1, down));
    }
    this.layer1 = this.module('layer1', new Sequential(...blocks));
    const c2 = [W, 2 * W];
    const c3 = [W, 2 * W, 4 * W];
    const c4 = [W, 2 * W, 4 * W, 8 * W];
    this.t1 = this.module('transition1', transition([l1out], c2));
    this.s2 = this.module('stage2', new Stage(c2, cfg.stageModules[0], cfg.blocksPerBranch, true));
    this.t2 = this.module('transition2', transition(c2, c3));
    this.s3 = this.module('stage3', new Stage(c3, cfg.stageModules[1], cfg.blocksPerBranch, true));
    this.t3 = this.module('transition3', transition(c3, c4));
    this.s4 = this.module('stage4', new Stage(c4, cfg.stageModules[2], cfg.blocksPerBranch, false));
    const k = cfg.finalConvKernel;
    this.finalLayer = this.module('final_layer', new Conv2d(W, cfg.numJoints, k, { padding: k === 3 ? 1 : 0 }));
    initHRNet(this);
  }

  /**
   * As the official forward: a present transition reads the last (lowest-resolution) branch.
   * Frees the branches it replaces (intermediates of the caller's call; never `keep`).
   */
  private applyTransition(t: SlotList, ys: readonly Tensor[], keep: Tensor | null = null): Tensor[] {
    const out = t.slots.map((m, i) => (m ? m.forward(ys[ys.length - 1]!) : ys[i]!));
    freeIntermediates(...ys.filter((y) => y !== keep && !out.includes(y)));
    return out;
  }

  /** Stem and layer1: [N, 3, H, W] → [N, 256, H/4, W/4] (paper widths), freeing as it goes. */
  private stem(x: Tensor): Tensor {
    let y = applyAndFree(x, (t) => this.conv1.forward(t));
    y = applyAndFree(y, (t) => this.bn1.forward(t));
    y = applyAndFree(y, relu);
    y = applyAndFree(y, (t) => this.conv2.forward(t));
    y = applyAndFree(y, (t) => this.bn2.forward(t));
    y = applyAndFree(y, relu);
    return applyAndFree(y, (t) => this.layer1.forward(t));
  }

  /** Runs a stage and frees its inputs (except `keep` and inputs it returns). */
  private runStage(s: Stage, xs: Tensor[], keep: Tensor | null = null): Tensor[] {
    const ys = s.forward(xs);
    freeIntermediates(...xs.filter((x) => x !== keep && !ys.includes(x)));
    return ys;
  }

  /** Stages 2 and 3 on the stem's output (freed): the stage-3 branches. */
  private stages23(y: Tensor): Tensor[] {
    const ys = this.runStage(this.s2, this.applyTransition(this.t1, [y]));
    return this.runStage(this.s3, this.applyTransition(this.t2, ys));
  }

  /** Features of the highest-resolution branch after stage 3 or 4 (see the class docs). */
  forwardFeatures(x: Tensor, stage: 3 | 4 = 4): HRNetFeatures {
    let ys = this.stages23(this.stem(x));
    if (stage === 3) {
      freeIntermediates(...ys.slice(1));
      return { features: ys[0]!, heatmaps: null };
    }
    ys = this.runStage(this.s4, this.applyTransition(this.t3, ys));
    const features = ys[0]!;
    return { features, heatmaps: this.finalLayer.forward(features) };
  }

  /**
   * One pass that keeps both feature levels: the stage-3 highest-resolution branch (GLPose's V),
   * the stage-4 one and the heatmaps ([N, W, H/4, W/4] twice and [N, K, H/4, W/4]).
   */
  forwardStages(x: Tensor): { stage3: Tensor; features: Tensor; heatmaps: Tensor } {
    let ys = this.stages23(this.stem(x));
    const stage3 = ys[0]!;
    ys = this.runStage(this.s4, this.applyTransition(this.t3, ys, stage3), stage3);
    const features = ys[0]!;
    return { stage3, features, heatmaps: this.finalLayer.forward(features) };
  }

  forward(x: Tensor): Tensor {
    return this.forwardFeatures(x, 4).heatmaps!;
  }
}

/** The official HRNet init: conv/deconv weights N(0, 0.001), biases 0, BN weight 1 and bias 0. */
export function initHRNet(m: Module): void {
  for (const [, mod] of m.namedModules()) {
    if (mod instanceof Conv2d || mod instanceof ConvTranspose2d) {
      normal_(mod.weight, 0, 0.001);
      if (mod.bias) constant_(mod.bias, 0);
    } else if (mod instanceof BatchNorm2d) {
      if (mod.weight) constant_(mod.weight, 1);
      if (mod.bias) constant_(mod.bias, 0);
    }
  }
}
