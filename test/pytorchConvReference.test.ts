// nabla's image layers against PyTorch: training-mode outputs, the loss, every parameter gradient,
// BatchNorm running statistics after one training forward, and evaluation-mode outputs, for two
// small CNNs with strides, paddings, non-square kernels and pools, from
// test/fixtures/pytorch-conv-reference.json (made by scripts/make-pytorch-conv-reference.py).
import { test } from 'node:test';
import { checkReferenceCase, referenceCases } from './pytorchCases.ts';

for (const c of referenceCases('pytorch-conv-reference.json')) {
  test(`PyTorch reference "${c.name}": train output, loss, gradients, running statistics, eval output`, () => checkReferenceCase(c));
}
