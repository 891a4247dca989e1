import { NablaError } from '../errors.ts';
import { LOSS_NAMES, type Loss, type LossName } from './loss.ts';
import { MSELoss } from './mse.ts';
import { SoftmaxCrossEntropyLoss } from './softmaxCrossEntropy.ts';

/** @example lossByName('ce') // fused softmax cross-entropy */
export function lossByName(name: LossName): Loss {
  if (name === 'mse') return new MSELoss();
  if (name === 'ce') return new SoftmaxCrossEntropyLoss();
  throw new NablaError({ where: 'loss', expected: `one of ${LOSS_NAMES.join(', ')}`, found: JSON.stringify(name) });
}
