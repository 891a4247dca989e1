import { NablaError } from '../errors.ts';
import { LOSS_NAMES, type Loss, type LossName } from './loss.ts';
import { MSELoss } from './mse.ts';
import { SoftmaxCrossEntropyLoss } from './softmaxCrossEntropy.ts';
import { HuberLoss } from './huber.ts';
import { BinaryCrossEntropyLoss } from './bce.ts';

/**
 * The loss for a name; a Loss object passes through, so APIs can take either.
 * @example lossByName('ce') // fused softmax cross-entropy
 */
export function lossByName(name: LossName | Loss): Loss {
  if (typeof name !== 'string') return name;
  if (name === 'mse') return new MSELoss();
  if (name === 'ce') return new SoftmaxCrossEntropyLoss();
  if (name === 'huber') return new HuberLoss();
  if (name === 'bce') return new BinaryCrossEntropyLoss();
  throw new NablaError({ where: 'loss', expected: `one of ${LOSS_NAMES.join(', ')}`, found: JSON.stringify(name) });
}
