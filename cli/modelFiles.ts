/** Loading and saving model files from the CLI: bytes from disk, the library decodes/encodes. */
import { decodeModel, encodeModel, type Backend, type LoadedModel, type Sequential, type TrainingInfo } from '../src/index.ts';
import { readFileChecked, writeFileAtomic } from './files.ts';

export function loadModelFile(path: string, options: { seed?: number; backend?: Backend } = {}): LoadedModel {
  return decodeModel(readFileChecked(path, 'model file'), `model file "${path}"`, options);
}

export function saveModelFile(path: string, model: Sequential, training: TrainingInfo): void {
  writeFileAtomic(path, encodeModel(model, training), 'model file');
}
