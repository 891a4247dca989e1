/**
 * nabla/node: the chores of a Node program, on top of the library (which runs in browsers too and
 * so touches no file): MNIST from the bundled copy or MNIST-format files, models saved to and
 * loaded from a path, and the file helpers behind them (clear errors; atomic writes).
 *
 * @example
 * import { Sequential, Dense, ReLU, SGD, ready } from 'nabla';
 * import { loadMnist, saveModel } from 'nabla/node';
 * const train = loadMnist('train');
 * // ... build and fit a model ...
 * saveModel('models/mine.safetensors', model);
 *
 * @module
 */
export { MAX_FILE_BYTES, readFileChecked, writeFileAtomic } from './files.ts';
export { bundledMnistDir, dataSource, loadMnist, mnistFileCandidates, readIdxBytes, type Split } from './mnist.ts';
export { loadModel, saveModel } from './modelFiles.ts';
export { MAX_CSV_IN_MEMORY_BYTES, loadCsv, openCsvChunks, type CsvChunkOptions, type CsvChunks } from './csv.ts';
export { loadNpy, loadNpz, loadNpyDataset, loadNpzDataset, openNpyChunks, type NpyChunks } from './npy.ts';
export { loadImageFolder, loadImageFile, loadImageBytes, resizePlane, type ImageFolderOptions, type ImageFolderDataset, type ImageInput, type ImageInputOptions } from './imageFolder.ts';
// The PyTorch export is browser-safe library code (src/io/pytorchModule.ts), exported here rather than
// from 'nabla': its Python text (≈ 25 KB) would otherwise grow the browser bundle, which has no use for it.
export {
  exportPytorch, pytorchModuleSource, pytorchLayerTypes, PYTORCH_WEIGHTS_FILE, type PytorchExport, type PytorchExportOptions,
} from '../io/pytorchModule.ts';
export { MAX_IMAGE_DATA_BYTES, MAX_IMAGE_FILE_BYTES, MAX_IMAGE_PIXELS, checkPngData, hasPngSignature } from './png.ts';
