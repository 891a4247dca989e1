/**
 * traceSample: the notes' Forward and Backward for ONE sample, with every intermediate kept, so a
 * learner can see the numbers behind each equation (the playground's "step through one sample").
 *
 * For a model [Dense, σ, Dense, σ, ..., Dense] and one input x = a(0) with target y:
 *
 *   Dense layer l:       z(l) = W(l) a(l−1) + b(l)          output  z(l)   (OUT)
 *   activation after it: a(l) = σ(z(l))                     output  a(l)   (OUT)
 *   Backward, from C:    δ(l) = ∂C/∂z(l)                    gradOutput of the Dense layer
 *                        ∂C/∂W(l) = δ(l) a(l−1)ᵀ            (OUT × IN), ∂C/∂b(l) = δ(l)
 *                        ∂C/∂a(l−1) = W(l)ᵀ δ(l)            gradOutput of the layer below
 *
 * Every step records its layer's output and ∂C/∂output; parameterised layers also record the
 * gradient of each parameter for this sample alone. Shapes are per sample (no batch dimension).
 * The model's own parameter gradients are saved before and restored after, so tracing in the
 * middle of training changes nothing.
 */
import { NablaError } from '../errors.ts';
import { NO_GRAD, type LayerConfig } from '../layers/layer.ts';
import type { Loss, LossName } from '../losses/loss.ts';
import { lossByName } from '../losses/lossByName.ts';
import { Tensor, shapeSize, type Shape } from '../tensor.ts';
import type { Sequential } from './sequential.ts';

/**
 * One parameter of a traced layer: its current value and ∂C/∂param for the traced sample.
 * @example const dW = traceSample(model, x, y, 'ce').steps[0].params[0].grad; // ∂C/∂W(1)
 */
export interface TracedParam {
  /** "weight" or "bias" (PyTorch's suffix); the full state-dict name is `${layer}.${name}`. */
  name: string;
  shape: Shape;
  value: Float32Array;
  grad: Float32Array;
}

/**
 * One non-learned tensor of a traced layer (BatchNorm's running_mean, running_var), as it was when
 * the sample was traced.
 * @example const rm = traceSample(model, x, y, 'ce').steps[1].buffers.find((b) => b.name === 'running_mean');
 */
export interface TracedBuffer {
  name: string;
  shape: Shape;
  value: Float32Array;
}

/**
 * One layer of the trace.
 * @example const { output, dOutput } = traceSample(model, x, y, 'ce').steps[0]; // z(1) and δ(1)
 */
export interface TraceStep {
  /** Position in the model (the PyTorch state-dict prefix). */
  index: number;
  /** Layer type, e.g. "Dense", "ReLU". */
  type: string;
  /** Per-sample shapes. */
  inputShape: Shape;
  outputShape: Shape;
  /** This layer's output for the sample: z(l) for a Dense layer, a(l) for an activation. */
  output: Float32Array;
  /** ∂C/∂output: δ(l) = ∂C/∂z(l) for a Dense layer, ∂C/∂a(l) for an activation. */
  gradOutput: Float32Array;
  /** Parameters with their per-sample gradients (empty for activations). */
  params: TracedParam[];
  /** The layer's JSON config (kernel size, stride, padding, rate, eps...), as model files store it. */
  config: LayerConfig;
  /** Non-learned state (BatchNorm's running statistics); empty for most layers. */
  buffers: TracedBuffer[];
}

/**
 * One sample's Forward and Backward, layer by layer, as `traceSample` returns it.
 * @example const trace: SampleTrace = traceSample(model, x, y, 'ce'); trace.loss;
 */
export interface SampleTrace {
  /** The input a(0), as given. */
  input: Float32Array;
  /** The target y, as given. */
  target: Float32Array;
  /** The loss C for this sample. */
  loss: number;
  /** Class probabilities (model.predictProbabilities: softmax of logits, or normalised Sigmoid). */
  probabilities: Float32Array;
  /** The loss the trace used ('ce' or 'mse'). */
  lossName: LossName;
  /** One entry per layer, input to output. */
  steps: TraceStep[];
}

/**
 * Run Forward and Backward on one sample and return every layer's output, ∂C/∂output and
 * parameter gradients (copies; the model's buffers are reused by the next pass).
 *
 * @param x      one input, shapeSize(model.inputShape) values
 * @param target one target row, shapeSize(model.outputShape) values (one-hot for classification)
 *
 * @example
 * const trace = traceSample(model, test.x.subarray(0, 784), test.y.subarray(0, 10), 'ce');
 * trace.steps[0].output;          // z(1), 256 values
 * trace.steps[0].params[0].grad;  // ∂C/∂W(1) = δ(1) a(0)ᵀ, 256 × 784 values
 */
export function traceSample(
  model: Sequential, x: Float32Array, target: Float32Array, loss: Loss | LossName,
): SampleTrace {
  const lossFn = lossByName(loss);
  const features = shapeSize(model.inputShape);
  const k = shapeSize(model.outputShape);
  if (x.length !== features) {
    throw new NablaError({ where: 'traceSample', expected: `${features} input values (one sample)`, found: String(x.length) });
  }
  if (target.length !== k) {
    throw new NablaError({ where: 'traceSample', expected: `${k} target values (one sample)`, found: String(target.length) });
  }

  const params = model.parameters();
  const savedGrads = params.map((p) => p.grad.data.slice());
  try {
    for (const p of params) p.grad.data.fill(0);

    // Forward, keeping a copy of every layer's output. Batch of one: (1, ...inputShape).
    const outputs: Float32Array[] = [];
    let a = new Tensor([1, ...model.inputShape], Float32Array.from(x));
    for (const layer of model.layers) {
      a = layer.forward(a, false);
      outputs.push(a.data.slice());
    }

    // ∂C/∂output of the last layer, from the loss; then Backward layer by layer.
    const dy = new Tensor([1, ...model.outputShape], new Float32Array(k));
    const value = lossFn.compute(model.backend, dy.data, a.data, Float32Array.from(target), 1, k);
    const gradOutputs: Float32Array[] = new Array(model.layers.length);
    let d = dy;
    for (let i = model.layers.length - 1; i >= 0; i--) {
      gradOutputs[i] = d.data.slice();
      d = model.layers[i].backward(d);
      if (d === NO_GRAD) break;
    }

    const steps = model.layers.map((layer, i): TraceStep => ({
      index: i,
      type: layer.type,
      inputShape: [...layer.inputShape],
      outputShape: [...layer.outputShape],
      output: outputs[i],
      gradOutput: gradOutputs[i],
      params: layer.params().map((p) => ({
        name: p.name, shape: [...p.value.shape], value: p.value.data.slice(), grad: p.grad.data.slice(),
      })),
      config: layer.config(),
      buffers: layer.buffers().map((b) => ({ name: b.name, shape: [...b.value.shape], value: b.value.data.slice() })),
    }));
    const probabilities = model.predictProbabilities(Float32Array.from(x), 1);
    return { input: Float32Array.from(x), target: Float32Array.from(target), loss: value, probabilities, lossName: lossFn.name, steps };
  } finally {
    params.forEach((p, i) => p.grad.data.set(savedGrads[i]));
  }
}

/**
 * The input of step `index` (the previous step's output, or the sample for the first step) and
 * ∂C/∂input (the previous step's gradOutput; undefined for the first step, whose input gradient
 * the model never computes).
 *
 * @example
 * const { input, gradInput } = stepInput(trace, 2); // a(1) and ∂C/∂a(1) for the third layer
 */
export function stepInput(trace: SampleTrace, index: number): { input: Float32Array; gradInput: Float32Array | undefined } {
  if (!Number.isInteger(index) || index < 0 || index >= trace.steps.length) {
    throw new NablaError({ where: 'stepInput', expected: `a step index in [0, ${trace.steps.length - 1}]`, found: String(index) });
  }
  return index === 0
    ? { input: trace.input, gradInput: undefined }
    : { input: trace.steps[index - 1].output, gradInput: trace.steps[index - 1].gradOutput };
}
