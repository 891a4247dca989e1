/**
 * TF.js as a peer: the @tensorflow/tfjs package (ops, gradients, the plain-JS cpu backend) with
 * its wasm backend (XNNPACK, SIMD; one thread in Node). Dev dependencies only: the library never
 * imports them.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';

export type TfBackend = 'wasm' | 'cpu';

export async function useTf(backend: TfBackend): Promise<typeof tf> {
  // The wasm backend prints a warning about threads in Node; it runs its SIMD build on one thread.
  await tf.setBackend(backend);
  await tf.ready();
  if (tf.getBackend() !== backend) throw new Error(`TF.js backend ${backend} did not start (got ${tf.getBackend()})`);
  return tf;
}
