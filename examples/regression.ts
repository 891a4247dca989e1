/**
 * Regression and binary classification on synthetic data, no files needed: a model that predicts
 * a number (y = 3x₁ − 2x₂ + noise) scored by MAE, RMSE and R², and a single-output yes/no
 * classifier (inside a circle or not) trained with binary cross-entropy on its logit.
 *
 *   node --conditions=nabla-source --import tsx examples/regression.ts [--quick]
 */
import { Adam, Dense, EarlyStopping, Rng, Sequential, Tanh, encodeModel, decodeModel, type Samples } from 'nabla';

const quick = process.argv.includes('--quick');
const rng = new Rng(1);

/** `count` rows of 2 features and 1 target, the target computed from the features. */
function makeData(count: number, target: (a: number, b: number) => number, draw: () => number): Samples {
  const x = new Float32Array(count * 2);
  const y = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    x[2 * i] = draw();
    x[2 * i + 1] = draw();
    y[i] = target(x[2 * i], x[2 * i + 1]);
  }
  return { x, y, count };
}

const line = (a: number, b: number) => 3 * a - 2 * b + 0.1 * rng.normal();
const train = makeData(quick ? 400 : 2000, line, () => rng.normal());
const test = makeData(500, line, () => rng.normal());

// #region readme-regression
// Regression: one output per target, loss 'mse' or 'huber' (robust to outliers); the task is
// inferred from the loss and targets, or given: task: 'regression'.
const model = new Sequential([new Dense(16), new Tanh(), new Dense(1)], { inputShape: [2], seed: 1 });
const stop = new EarlyStopping(model, { monitor: 'val_r2', patience: 5 });
const history = model.fit(train, {
  optimizer: new Adam(model.parameters(), { lr: 0.01 }), loss: 'huber', task: 'regression',
  epochs: 40, batchSize: 32, validationSplit: 0.2, callbacks: [stop],
});
const { mae, rmse, r2 } = model.evaluate(test, { loss: 'huber', task: 'regression' });
// #endregion
const last = history.epochs[history.epochs.length - 1];
console.log(`regression: ${history.epochs.length} epochs, val R² ${last.valR2!.toFixed(4)}; test MAE ${mae.toFixed(4)}, RMSE ${rmse.toFixed(4)}, R² ${r2.toFixed(4)}`);

const circle = (a: number, b: number) => (a * a + b * b < 1.44 ? 1 : 0);
const uniform = () => 4 * rng.uniform() - 2;
const trainYesNo = makeData(quick ? 600 : 3000, circle, uniform);
const testYesNo = makeData(500, circle, uniform);

// #region readme-binary
// Binary classification: one output, a logit (no Sigmoid layer), loss 'bce'; targets 0 or 1.
const classifier = new Sequential([new Dense(16), new Tanh(), new Dense(1)], { inputShape: [2], seed: 1 });
classifier.fit(trainYesNo, { optimizer: new Adam(classifier.parameters(), { lr: 0.02 }), loss: 'bce', epochs: 40, batchSize: 32 });
const { accuracy, confusion } = classifier.evaluate(testYesNo, { loss: 'bce' }); // confusion is 2 × 2
const probabilities = classifier.predictProbabilities(testYesNo.x, testYesNo.count); // rows [1 − p, p]
const bytes = encodeModel(classifier, { loss: 'bce', task: 'classification', classNames: ['outside', 'inside'] });
// #endregion
const { training } = decodeModel(bytes);
console.log(`binary: test accuracy ${(100 * accuracy).toFixed(2)}%, confusion ${JSON.stringify(confusion)}, ` +
  `p(${training.classNames![1]}) of the first point ${probabilities[1].toFixed(3)}`);
