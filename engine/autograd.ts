/**
 * Define-by-run reverse-mode autograd. Each differentiable op that sees an input with
 * `requiresGrad` (while grad mode is on) records a GradNode on its output: the inputs, and a
 * backward closure that maps the output gradient to input gradients using ops, so that it runs on
 * every backend. `backward()` walks the nodes in reverse topological order, accumulating.
 */
import type { KTensor } from '../backends/backend.js';
import { engine } from './engine.js';
import { fail, fmtShape, shapesEqual } from './shape.js';
import { Tensor } from './tensor.js';

export interface GradNode {
  readonly op: string;
  /** The op's inputs in order; null for absent optional inputs (such as a bias). */
  readonly inputs: readonly (Tensor | null)[];
  /** Maps dL/d(output) to dL/d(input_i) for each input (null where no gradient flows). */
  readonly backward: (dy: Tensor) => readonly (Tensor | null | undefined)[];
}

/** True when an op on `inputs` should record a node. */
export function needsGrad(inputs: readonly (Tensor | null | undefined)[]): boolean {
  if (!engine.gradEnabled) return false;
  for (const t of inputs) if (t && t.requiresGrad) return true;
  return false;
}

/**
 * Records `backward` as the node producing `out`, when grad mode is on and an input requires grad.
 * Inputs may include nulls (optional args such as bias); their gradient slots are ignored.
 */
export function record(op: string, out: Tensor, inputs: readonly (Tensor | null | undefined)[], backward: (dy: Tensor) => readonly (Tensor | null | undefined)[]): Tensor {
  if (!needsGrad(inputs)) return out;
  out.requiresGrad = true;
  out.gradFn = { op, inputs: inputs.map((t) => t ?? null), backward };
  return out;
}

/** Runs backpropagation from `root` (see Tensor.backward). */
export function runBackward(root: Tensor, grad?: Tensor): void {
  if (!root.requiresGrad) fail('backward', 'a tensor that requires grad (an op output on a path from a leaf with requiresGrad)', root.toString());
  const be = engine.backend(root.device);
  let seed: Tensor;
  if (grad === undefined) {
    if (root.size !== 1) fail('backward', 'a one-element output, or an explicit grad', `shape ${fmtShape(root.shape)}`);
    seed = Tensor.fromStorage(root.device, be.fill(root.shape, root.dtype, 1), root.shape, root.dtype);
  } else {
    if (!shapesEqual(grad.shape, root.shape)) fail('backward', `grad of shape ${fmtShape(root.shape)}`, fmtShape(grad.shape));
    if (grad.dtype !== root.dtype || grad.device !== root.device) fail('backward', `grad as ${root.dtype} on ${root.device}`, `${grad.dtype} on ${grad.device}`);
    seed = grad.detach();
  }

  // Reverse topological order of the tensors with a gradFn (iterative DFS, post-order).
  const order: Tensor[] = [];
  const visited = new Set<Tensor>();
  const stack: [Tensor, number][] = [[root, 0]];
  visited.add(root);
  while (stack.length) {
    const top = stack[stack.length - 1]!;
    const [t, i] = top;
    const inputs = t.gradFn ? t.gradFn.inputs : [];
    if (i < inputs.length) {
      top[1]++;
      const child = inputs[i];
      if (child && child.isDisposed && child.requiresGrad) {
        // dispose() drops a tensor's gradFn, so the gradient would silently stop here
        fail('backward', `the graph behind the output alive: input ${i} of ${t.gradFn!.op} was disposed (by dispose() or by the tidy() that built it); call backward() inside that tidy()`, child.toString());
      }
      if (child && child.requiresGrad && child.gradFn && !visited.has(child)) {
        visited.add(child);
        stack.push([child, 0]);
      }
    } else {
      stack.pop();
      if (t.gradFn) order.push(t);
    }
  }
  order.reverse();

  const grads = new Map<Tensor, Tensor>();
  grads.set(root, engine.keep(seed));
  const prevMode = engine.gradEnabled;
  engine.gradEnabled = false;
  try {
    for (const t of order) {
      const g = grads.get(t);
      if (!g) continue;
      grads.delete(t);
      const node = t.gradFn!;
      const firstNew = engine.peekNextId();
      const inGrads = engine.tidy(() => [...node.backward(g)] as (Tensor | null | undefined)[]);
      for (let i = 0; i < node.inputs.length; i++) {
        const input = node.inputs[i];
        const gi = inGrads[i];
        if (!gi || !input || !input.requiresGrad) continue;
        if (!shapesEqual(gi.shape, input.shape)) {
          fail(`backward of ${node.op}`, `a gradient of shape ${fmtShape(input.shape)} for input ${i}`, fmtShape(gi.shape));
        }
        accumulate(input, gi.detach(), grads);
      }
      // Free what the node returned (its grads now live as shared views), and the consumed grad.
      for (const gi of inGrads) if (gi && gi !== g && gi.id >= firstNew) gi.dispose();
      g.dispose();
    }
  } finally {
    engine.gradEnabled = prevMode;
    for (const g of grads.values()) g.dispose();
  }
}

function accumulate(input: Tensor, gi: Tensor, grads: Map<Tensor, Tensor>): void {
  engine.keep(gi);
  if (input.gradFn) {
    const prev = grads.get(input);
    grads.set(input, prev ? addInto(prev, gi) : gi);
  } else {
    input.grad = input.grad ? addInto(input.grad, gi) : gi;
  }
}

/** prev + next as a new kept tensor; disposes both. */
function addInto(prev: Tensor, next: Tensor): Tensor {
  if (prev.dtype !== next.dtype || prev.device !== next.device) {
    fail('backward', `gradients as ${prev.dtype} on ${prev.device}`, `${next.dtype} on ${next.device}`);
  }
  const be = engine.backend(prev.device);
  const a: KTensor = prev.k('backward');
  const b: KTensor = next.k('backward');
  const sum = Tensor.fromStorage(prev.device, be.binary('add', a, b, prev.shape, prev.dtype), prev.shape, prev.dtype);
  prev.dispose();
  next.dispose();
  return engine.keep(sum);
}
