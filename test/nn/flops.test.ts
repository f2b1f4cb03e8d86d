/** MAC counting from a forward pass. */
import { describe, expect, it } from 'vitest';
import * as P from '../../index.js';
import { countMacsOf } from '../../models/nn/flops.js';

describe('countMacsOf', () => {
  it('counts conv2d, convTranspose2d, matmul and attention MACs by their formulas', () => {
    const r = countMacsOf(() => {
      P.conv2d(P.randn([2, 4, 8, 6]), P.randn([6, 2, 3, 3]), null, { padding: 1, groups: 2 }); // 2·6·8·6·2·9
      P.convTranspose2d(P.randn([1, 3, 4, 4]), P.randn([3, 5, 4, 4]), null, { stride: 2, padding: 1 }); // 1·3·4·4·5·16
      P.matmul(P.randn([3, 4, 5]), P.randn([5, 7])); // 3·4·7·5
      P.scaledDotProductAttention(P.randn([1, 2, 6, 8]), P.randn([1, 2, 9, 8]), P.randn([1, 2, 9, 4])); // 1·2·6·9·(8+4)
    });
    expect(r.byOp).toEqual({ conv2d: 2 * 6 * 8 * 6 * 2 * 9, convTranspose2d: 3 * 4 * 4 * 5 * 16, matmul: 3 * 4 * 7 * 5, scaledDotProductAttention: 2 * 6 * 9 * 12 });
    expect(r.total).toBe(Object.values(r.byOp).reduce((a, b) => a + b, 0));
  });
  it('does not count outside the counter and frees the forward\'s tensors', () => {
    const before = P.memory().numTensors;
    countMacsOf(() => P.relu(P.conv2d(P.randn([1, 1, 4, 4]), P.randn([1, 1, 3, 3]))));
    expect(P.memory().numTensors).toBe(before);
    expect(countMacsOf(() => P.relu(P.randn([3]))).total).toBe(0);
  });
});
