/**
 * Models on disk: a model file (safetensors with nabla's metadata) read and decoded, or encoded
 * and written atomically. The formats themselves are io/modelFile.ts's, shared with the browser.
 */
import type { Backend } from '../backend/backend.ts';
import { decodeModel, encodeModel, type LoadedModel, type TrainingInfo } from '../io/modelFile.ts';
import type { Sequential } from '../model/sequential.ts';
import { readFileChecked, writeFileAtomic } from './files.ts';

/**
 * Read a model file: the model with its weights, and what it was trained on.
 *
 * @example
 * const { model, training } = loadModel('models/mlp.safetensors');
 * model.predict(x, 1);
 */
export function loadModel(path: string, options: { seed?: number; backend?: Backend } = {}): LoadedModel {
  return decodeModel(readFileChecked(path, 'model file'), `model file "${path}"`, options);
}

/**
 * Write a model file (atomically: an interrupted save leaves the previous file whole).
 * `training` records how it was trained, as `nabla summary` shows; everything in it is optional.
 *
 * @example
 * saveModel('models/mlp.safetensors', model, { epochs: 5, seed: 1 });
 */
export function saveModel(path: string, model: Sequential, training: TrainingInfo = {}): void {
  writeFileAtomic(path, encodeModel(model, training), 'model file');
}
