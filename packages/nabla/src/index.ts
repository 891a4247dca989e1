/**
 * nabla: a neural-network library written from scratch. This is the public entry point; the CLI
 * and the playground import only from here.
 *
 * @example
 * import { Sequential, Dense, ReLU, Adam } from 'nabla';
 * const model = new Sequential([new Dense(128), new ReLU(), new Dense(10)], { inputShape: [784], seed: 1 });
 * const optimizer = new Adam(model.parameters(), { lr: 1e-3 });
 * const history = model.fit(train, { optimizer, loss: 'ce', epochs: 5, batchSize: 64 });
 */
export { NablaError, isNablaError } from './errors.ts';
export { listSome, clip } from './listSome.ts';
export { Tensor, shapeSize, shapeToString, firstNonFinite, type Shape } from './tensor.ts';
export { Rng } from './random.ts';

export type { Backend } from './backend/backend.ts';
export { JsBackend } from './backend/js/jsBackend.ts';
export { naiveGemm } from './backend/js/naiveGemm.ts';
export { WasmBackend, availableCores, sharedMemoryAvailable, type WasmBackendOptions } from './backend/wasm/wasmBackend.ts';
export {
  createBackend, describeBackend, BACKEND_NAMES, type BackendName, type CreateBackendOptions,
} from './backend/createBackend.ts';
export { ready, defaultBackend, setDefaultBackend } from './backend/defaultBackend.ts';

export { Layer, TensorBuffer, NO_GRAD, MAX_TENSOR_VALUES, withParameterBudget, checkTensorSize, type Param, type LayerConfig, type BuildContext, type StateTensor } from './layers/layer.ts';
export type {
  LayerKind, InputKind, LayerSpecSyntax, SpecToken, ConfigContext, BuiltLayer, OnnxEmitContext, OnnxAttribute, PytorchEmitContext,
} from './layers/kind.ts';
export { registerLayer, registerLayersFrom, type DescribedClass, layerTypes, layerKinds, findLayerKind, layerFromConfig, builtLayer } from './layers/registry.ts';
export * from './layers/builtins.ts';
export { type Pair } from './layers/window.ts';
export { type Pool2DOptions } from './layers/pool2d.ts';
export { heNormal, xavierUniform, initialize, checkInit, INIT_NAMES, type InitName } from './init.ts';

export { LOSS_NAMES, type Loss, type LossName } from './losses/loss.ts';
export { MSELoss } from './losses/mse.ts';
export { SoftmaxCrossEntropyLoss } from './losses/softmaxCrossEntropy.ts';
export { HuberLoss } from './losses/huber.ts';
export { BinaryCrossEntropyLoss } from './losses/bce.ts';
export { lossByName } from './losses/lossByName.ts';

export { Optimizer, type OptimizerOptions } from './optim/optimizer.ts';
export { SGD, type SGDOptions } from './optim/sgd.ts';
export { Adam, AdamW, type AdamOptions } from './optim/adam.ts';

export { Sequential, type ModelConfig, type SequentialOptions, type StepOptions, type StepResult } from './model/sequential.ts';
export {
  DivergenceError, type EpochLog, type History, type BatchLog, type Callback, type FitOptions, type FitState, type TrainBeginInfo,
} from './train/fit.ts';
export {
  argmax, checkSamples, countCorrect, inferTask, resolveTask, decisionThreshold, predictedClass, targetClass, classCount, TASKS,
  type Task, type Evaluation, type ClassificationEvaluation, type RegressionEvaluation, type TargetMetrics,
  type EvaluateOptions, type ClassifierEvaluateOptions, type RegressionEvaluateOptions,
} from './train/metrics.ts';
export {
  cosineDecay, lrSchedule, scheduledLr, checkSchedule, SCHEDULE_NAMES, type ScheduleName, type ScheduleOptions,
} from './train/schedules.ts';
export { EarlyStopping, MONITOR_METRICS, type MonitorMetric, type EarlyStoppingOptions, type EarlyStoppingState } from './train/earlyStopping.ts';
export {
  encodeCheckpoint, decodeCheckpoint, restoreCheckpoint, describeArchitecture, CHECKPOINT_FORMAT_VERSION,
  type Checkpoint, type CheckpointParts, type OptimizerState,
} from './train/checkpoint.ts';
export {
  clipGradNorm, gradSumOfSquares, deadUnitFraction, chanceAccuracy, TrainingMonitor,
  type TrainingWarning, type NonFinite, type MonitorOptions, type FinalFigures,
} from './train/diagnostics.ts';
export { crc32 } from './io/crc32.ts';
export { traceSample, stepInput, type SampleTrace, type TraceStep, type TracedParam, type TracedBuffer } from './model/traceSample.ts';
export {
  convGeometry, explainConvOutput, explainConvWeightGrad, explainConvBiasGrad, explainConvInputGrad, rotate180,
  maxPoolRoutes, explainPoolOutput, avgPoolSplit, explainBatchNorm, explainDropout,
  type ConvGeometry, type WindowTerm, type ConvOutputSum, type GradTerm, type ConvWeightGradSum, type FullCorrelationTerm,
  type ConvInputGradSum, type PoolRoute, type PoolOutputSum, type BatchNormModeView, type BatchNormView, type DropoutView,
} from './model/explainConv.ts';
export { misclassified, type Mistake } from './model/misclassified.ts';

export { parseIdx, readIdxHeader, encodeIdx, MAX_IDX_BYTES, type IdxArray, type IdxDtype, type IdxData, type IdxHeader } from './data/idx.ts';
export { assembleMnist, sliceDataset, splitDataset } from './data/mnist.ts';
export {
  datasetFromArrays, labelArrayFor, inputShapeOf, imageShapeFor, shuffleDataset,
  type Dataset, type DatasetArrays, type LabelArray, type RegressionDataset,
} from './data/dataset.ts';
export { BatchIterator, epochOrder, gatherBatch, batchCount, type Batch, type Samples } from './data/batches.ts';
export { csvRecords, csvLayout, parseCsv, type CsvRecord, type CsvOptions, type CsvLayout } from './data/csv.ts';
export { ChunkedDataset, samplesChunks, type Chunk, type ChunkReader, type BatchSource, type SourceBatch } from './data/chunked.ts';
export { fitSource, type FitSourceOptions } from './train/fitSource.ts';
export {
  parseNpy, readNpyHeader, encodeNpy, decodeNpyData, datasetFromNpy, npyInputShape, npyRowsToFloat, npyLabels, MAX_NPY_BYTES,
  type NpyArray, type NpyDtype, type NpyHeader,
} from './data/npy.ts';
export { rgbaToInk, toMnistInput, noInk } from './data/digitImage.ts';
export { signedToRgba, inkToRgba, maxAbs, firstLayerPictures, tilePictures, confusionColour } from './viz/heatmap.ts';
export { ImageAugmenter, type AugmentOptions } from './data/augment.ts';

export { encodeSafetensors, decodeSafetensors, type SafetensorsContents } from './io/safetensors.ts';
export { encodeModel, decodeModel, MODEL_FORMAT_VERSION, type TrainingInfo, type LoadedModel, type Score } from './io/modelFile.ts';
export {
  exportOnnx, encodeOnnx, onnxOutputName, ONNX_OPSET, ONNX_IR_VERSION, onnxLayerTypes,
  type OnnxGraphSpec, type OnnxLayer, type OnnxOptions,
} from './io/onnx.ts';
export { importStateDict, type ImportOptions } from './io/importWeights.ts';

export {
  gradCheck, checkLayerGradients, type GradCheckOptions, type GradCheckResult, type LayerCheckOptions, type LayerCheckReport,
} from './testing/gradCheck.ts';
export { assertClose, compareClose, type CloseOptions, type Comparison } from './testing/assertClose.ts';
export {
  parseLayerSpec, layersFromSpec, specWantsImages, layerSpecGrammar,
} from './model/layerSpec.ts';
export {
  buildModel, mlpSpec, mlpLayers, parseArchitecture, MODEL_PRESETS, MODEL_PRESET_NAMES, MLP_ACTIVATIONS, MLP_OUTPUTS,
  type BuildModelOptions, type MlpOptions, type MlpActivation, type MlpOutput, type ModelPreset,
} from './model/buildModel.ts';
