/**
 * Inference in the browser: fetch a model file, read the digit drawn on a <canvas>, predict.
 * The library parses bytes and never touches files, so the same code runs in a page; this file
 * imports nothing from Node (the examples test bundles it for the browser to prove it).
 *
 * Bundle it for a page:
 *   npx esbuild examples/browserInference.ts --bundle --format=esm --conditions=nabla-source --outfile=app.js
 * then in the page:
 *   <canvas id="pad" width="280" height="280"></canvas>
 *   <script type="module">
 *     import { loadModel, classifyCanvas } from './app.js';
 *     const model = await loadModel('models/mnist-mlp.safetensors');
 *     console.log(classifyCanvas(model, document.getElementById('pad')).digit);
 *   </script>
 */
import { argmax, decodeModel, rgbaToInk, toMnistInput, type Sequential } from 'nabla';

/** What classifyCanvas needs of an HTMLCanvasElement (so tests can pass a stand-in). */
export interface CanvasLike {
  width: number;
  height: number;
  getContext(contextId: '2d'): { getImageData(sx: number, sy: number, sw: number, sh: number): { data: Uint8ClampedArray } } | null;
}

// #region readme-browser (README.md shows exactly these lines; test/examples.test.ts keeps them equal)
/** Fetch a nabla model file (.safetensors) and rebuild the model from the architecture it holds. */
export async function loadModel(url: string): Promise<Sequential> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`fetching ${url}: HTTP ${response.status}`);
  return decodeModel(new Uint8Array(await response.arrayBuffer()), `model "${url}"`).model;
}

/** The digit drawn on a canvas, any size, dark on light or light on dark. */
export function classifyCanvas(model: Sequential, canvas: CanvasLike): { digit: number; probabilities: Float32Array } {
  const { width, height } = canvas;
  const pixels = canvas.getContext('2d')!.getImageData(0, 0, width, height).data;
  const x = toMnistInput(rgbaToInk(pixels, width, height), width, height); // MNIST's 28×28 convention
  const probabilities = model.predictProbabilities(x, 1);
  return { digit: argmax(probabilities, 0, 10), probabilities };
}
// #endregion
