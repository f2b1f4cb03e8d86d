/**
 * TF.js graph model → MoveNet state dict. Maps the graph's weight names (TF Hub's Keras layer names,
 * BN folded into each conv as `*_weights` + `*_bn_offset`) to posegrad's readable parameter names,
 * transposes TF's kernels (HWIO [kh, kw, Cin, Cout]; depthwise [kh, kw, C, 1]) to PyTorch's
 * [Cout, Cin/groups, kh, kw], and checks every shape, every conv's stride and padding, and the
 * graph's normalization and decoding constants against the configuration. The mapping table is in
 * docs/models/movenet.md.
 */
import type { HostTensor } from '../nn/safetensors.js';
import type { TfjsGraphModel } from '../nn/checkpoint/tfjs.js';
import { tfjsAttr } from '../nn/checkpoint/tfjs.js';
import { mobileNetV2Blocks, type MoveNetConfig } from './config.js';

const FE = 'StatefulPartitionedCall/center_net_mobile_net_v2fpn_feature_extractor/model_1/';
const HEADS: Record<string, string> = {
  center_0: 'center',
  kpt_heatmap_0: 'keypoint_heatmap',
  kpt_regress_0: 'keypoint_regress',
  kpt_offset_0: 'keypoint_offset',
  box_scale_0: 'box_scale',
  box_offset_0: 'box_offset',
};
const FPN_LATERAL: Record<string, string> = { conv2d: 'lateral32', conv2d_1: 'lateral16', conv2d_2: 'lateral8', conv2d_3: 'lateral4' };
const FPN_SMOOTH: Record<string, string> = { separable_conv2d: 'smooth16', separable_conv2d_1: 'smooth8', separable_conv2d_2: 'smooth4' };

/** The posegrad key of a graph weight, and whether it is a depthwise kernel; null for graph constants. */
export function moveNetKey(graphName: string): { key: string; depthwise: boolean } | null {
  let m: RegExpMatchArray | null;
  const fe = graphName.startsWith(FE) ? graphName.slice(FE.length) : null;
  if (fe !== null) {
    if ((m = fe.match(/^model\/(Conv1|Conv_1)\/Conv2D_(weights|bn_offset)$/))) return { key: `backbone.${m[1] === 'Conv1' ? 'conv1' : 'conv_last'}.${m[2] === 'weights' ? 'weight' : 'bias'}`, depthwise: false };
    if ((m = fe.match(/^model\/expanded_conv_(depthwise|project)\/(depthwise|Conv2D)_(weights|bn_offset)$/))) return { key: `backbone.blocks.0.${m[1]}.${m[3] === 'weights' ? 'weight' : 'bias'}`, depthwise: m[1] === 'depthwise' };
    if ((m = fe.match(/^model\/block_(\d+)_(expand|depthwise|project)\/(depthwise|Conv2D)_(weights|bn_offset)$/))) return { key: `backbone.blocks.${m[1]}.${m[2]}.${m[4] === 'weights' ? 'weight' : 'bias'}`, depthwise: m[2] === 'depthwise' };
    if ((m = fe.match(/^(conv2d(?:_\d)?)\/(Conv2D|BiasAdd)\/ReadVariableOp$/)) && FPN_LATERAL[m[1]!]) return { key: `fpn.${FPN_LATERAL[m[1]!]}.${m[2] === 'Conv2D' ? 'weight' : 'bias'}`, depthwise: false };
    if ((m = fe.match(/^(separable_conv2d(?:_\d)?)\/separable_conv2d\/ReadVariableOp$/)) && FPN_SMOOTH[m[1]!]) return { key: `fpn.${FPN_SMOOTH[m[1]!]}.depthwise.weight`, depthwise: true };
    if ((m = fe.match(/^(separable_conv2d(?:_\d)?)\/separable_conv2d_(weights|bn_offset)$/)) && FPN_SMOOTH[m[1]!]) return { key: `fpn.${FPN_SMOOTH[m[1]!]}.pointwise.${m[2] === 'weights' ? 'weight' : 'bias'}`, depthwise: false };
    return null;
  }
  if ((m = graphName.match(/^StatefulPartitionedCall\/([a-z_]+_0)\/(.+)$/)) && HEADS[m[1]!]) {
    const h = `head.${HEADS[m[1]!]}`;
    const rest = m[2]!;
    if (/^separable_conv2d_\d+\/separable_conv2d\/ReadVariableOp$/.test(rest)) return { key: `${h}.conv.depthwise.weight`, depthwise: true };
    if (/^separable_conv2d_\d+\/separable_conv2d\/ReadVariableOp_1$/.test(rest)) return { key: `${h}.conv.pointwise.weight`, depthwise: false };
    if (/^separable_conv2d_\d+\/BiasAdd\/ReadVariableOp$/.test(rest)) return { key: `${h}.conv.pointwise.bias`, depthwise: false };
    if (/^conv2d_\d+\/Conv2D\/ReadVariableOp$/.test(rest)) return { key: `${h}.out.weight`, depthwise: false };
    if (/^conv2d_\d+\/BiasAdd\/ReadVariableOp$/.test(rest)) return { key: `${h}.out.bias`, depthwise: false };
  }
  return null;
}

/** TF's HWIO (or depthwise [kh, kw, C, 1]) kernel → PyTorch's [Cout, Cin/groups, kh, kw]. */
export function tfKernelToTorch(t: HostTensor, depthwise: boolean): HostTensor {
  if (t.shape.length !== 4) return t;
  const [kh, kw, ci, co] = t.shape as [number, number, number, number];
  const outC = depthwise ? ci * co : co;
  const inC = depthwise ? 1 : ci;
  const out = new Float32Array(t.data.length);
  for (let y = 0; y < kh; y++) {
    for (let x = 0; x < kw; x++) {
      for (let i = 0; i < ci; i++) {
        for (let o = 0; o < co; o++) {
          const src = ((y * kw + x) * ci + i) * co + o;
          // depthwise: channel i (multiplier o) is output channel i·co + o, with one input channel
          const dst = depthwise ? ((i * co + o) * 1 * kh + y) * kw + x : ((o * ci + i) * kh + y) * kw + x;
          out[dst] = t.data[src]!;
        }
      }
    }
  }
  return { dtype: 'float32', shape: [outC, inC, kh, kw], data: out };
}

/**
 * Converts a MoveNet TF.js graph model into a posegrad state dict for `cfg`.
 * @returns the tensors keyed as `new MoveNet(cfg).stateDict()`.
 * @throws Error naming the graph entry when a weight is unmapped or mapped twice, a shape differs
 *   from the configuration, a conv's stride or padding is not what the module computes, or a
 *   normalization/decoding constant differs from the configuration.
 */
export function moveNetFromTfjsGraph(graph: TfjsGraphModel, cfg: MoveNetConfig, expectedShapes: Map<string, readonly number[]>, source = 'model.json'): Map<string, HostTensor> {
  const out = new Map<string, HostTensor>();
  for (const [name, t] of graph.weights) {
    const k = moveNetKey(name);
    if (!k) continue;
    if (out.has(k.key)) throw new Error(`${source}: '${name}' maps to '${k.key}', which another weight already filled`);
    const want = expectedShapes.get(k.key);
    if (!want) throw new Error(`${source}: '${name}' maps to '${k.key}', which the ${cfg.variant} configuration does not have`);
    const conv = tfKernelToTorch(t, k.depthwise);
    if (conv.shape.length !== want.length || conv.shape.some((d, i) => d !== want[i])) {
      throw new Error(`${source}: expected '${name}' (→ ${k.key}) of shape [${want.join(', ')}] after transposing, got [${conv.shape.join(', ')}] (graph [${t.shape.join(', ')}])`);
    }
    out.set(k.key, conv);
  }
  const missing = [...expectedShapes.keys()].filter((k) => !out.has(k));
  if (missing.length) throw new Error(`${source}: expected weights for every ${cfg.variant} parameter, got none for ${missing.length} [${missing.slice(0, 6).join(', ')}${missing.length > 6 ? ', ...' : ''}]`);
  checkGraphStructure(graph, cfg, source);
  return new Map([...expectedShapes.keys()].map((k) => [k, out.get(k)!]));
}

/** Strides, paddings and constants of the graph against the configuration. */
function checkGraphStructure(graph: TfjsGraphModel, cfg: MoveNetConfig, source: string): void {
  const { blocks } = mobileNetV2Blocks(cfg.alpha, cfg.stages);
  for (const node of graph.nodes) {
    if (!/Conv2D|DepthwiseConv2dNative/.test(node.op)) continue;
    const w = node.inputs[1] ?? '';
    const k = moveNetKey(w);
    if (!k) throw new Error(`${source}: conv node '${node.name}' reads '${w}', which no MoveNet parameter maps`);
    const strides = tfjsAttr(node, 'strides') as number[] | undefined;
    const padding = tfjsAttr(node, 'padding') as string | undefined;
    const dil = tfjsAttr(node, 'dilations') as number[] | undefined;
    const m = k.key.match(/^backbone\.blocks\.(\d+)\.depthwise/);
    const stride = m ? blocks[Number(m[1])]!.stride : k.key.startsWith('backbone.conv1') ? 2 : 1;
    if (!strides || strides[1] !== stride || strides[2] !== stride) throw new Error(`${source}: expected stride ${stride} at '${node.name}' (${k.key}), got [${strides}]`);
    if (dil && dil.some((d) => d !== 1)) throw new Error(`${source}: expected dilation 1 at '${node.name}', got [${dil}]`);
    const kernel = graph.weights.get(w)!.shape[0];
    // SAME on a 1x1 conv is VALID; on a 3x3 conv it is the module's TF padding
    if (kernel !== 1 && padding !== 'SAME') throw new Error(`${source}: expected SAME padding at '${node.name}', got ${padding}`);
    const fused = (tfjsAttr(node, 'fused_ops') as string[] | undefined) ?? [];
    const act = fused.includes('Relu6') ? 'relu6' : fused.includes('Relu') ? 'relu' : null;
    const wantAct = /\.(expand|depthwise)\.|conv1\.|conv_last\./.test(k.key) && k.key.startsWith('backbone') ? 'relu6' : /pointwise/.test(k.key) ? 'relu' : null;
    // un-fused depthwise convs (FPN and heads) have no activation and no bias
    if (act !== wantAct && !(node.op === 'DepthwiseConv2dNative' && wantAct === null)) throw new Error(`${source}: expected activation ${wantAct ?? 'none'} at '${node.name}' (${k.key}), got ${act ?? 'none'}`);
  }
  const scalar = (name: string): number | undefined => {
    const t = graph.weights.get(`StatefulPartitionedCall/${name}`);
    return t ? Number(t.data[0]) : undefined;
  };
  const near = (a: number | undefined, b: number | undefined): boolean => a !== undefined && b !== undefined && Math.abs(a - b) <= 1e-6 * Math.max(1, Math.abs(b));
  const want: [string, number | undefined, number | undefined][] = [
    ['truediv (input scale)', scalar('truediv'), cfg.inputScale],
    ['sub_1/y (input offset, negated)', scalar('sub_1/y'), -cfg.inputOffset],
  ];
  if (cfg.multiPose) {
    want.push(['mul_6/y (sigma factor)', scalar('mul_6/y'), cfg.decode.sigmaFactor], ['Greater_1/y (keypoint threshold)', scalar('Greater_1/y'), cfg.decode.keypointScoreThreshold], ['TopKV2/k (max persons)', scalar('TopKV2/k'), cfg.decode.maxPersons], ['Less/y (NMS tolerance)', scalar('Less/y'), cfg.decode.nmsTolerance]);
  } else {
    want.push(['add_5/y (keypoint distance offset)', scalar('add_5/y'), cfg.decode.keypointDistanceOffset]);
  }
  for (const [what, got, exp] of want) if (!near(got, exp)) throw new Error(`${source}: expected the graph constant ${what} = ${exp}, got ${got}`);
}
