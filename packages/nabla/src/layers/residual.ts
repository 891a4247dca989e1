/**
 * Residual: y = x + f(x), where f is a sequence of inner layers that keeps the shape: the skip
 * connection of ResNets (He et al. 2015), so deeper nets still pass gradients straight through.
 *
 * Shapes: x: (N, ...S) → f(x): (N, ...S) → y: (N, ...S). The inner layers are built in order on S
 * and must end on S again. Caches nothing of its own (each inner layer caches what it needs).
 * Backward: the gradient takes both paths, dx = dy + (∂f/∂x)ᵀ dy, and the inner layers add into
 * their own parameter gradients. State-dict names are PyTorch's for a module holding
 * `self.body = nn.Sequential(...)`: inner layer j's weight is "<index>.body.<j>.weight".
 */
import { NablaError } from '../errors.ts';
import type { Backend } from '../backend/backend.ts';
import type { Rng } from '../random.ts';
import { sameShape, shapeToString, type Shape, type Tensor } from '../tensor.ts';
import type { LayerKind } from './kind.ts';
import { Layer, NO_GRAD, TensorBuffer, type LayerConfig, type Param, type StateTensor } from './layer.ts';

/**
 * y = x + f(x) around a sequence of layers.
 *
 * @example
 * new Sequential([new Dense(64), new ReLU(), new Residual([new Dense(64), new ReLU(), new Dense(64)]), new ReLU(), new Dense(10)], { inputShape: [784] });
 */
export class Residual extends Layer {
  readonly type = 'Residual';
  readonly body: Layer[];
  private named: Param[] = [];
  private namedBuffers: StateTensor[] = [];
  private readonly out = new TensorBuffer();
  private readonly dxBuf = new TensorBuffer();

  /** @example new Residual([new Conv2D(16, 3, { padding: 1 }), new BatchNorm2D(), new ReLU(), new Conv2D(16, 3, { padding: 1 })]) */
  constructor(body: Layer[]) {
    super();
    if (!Array.isArray(body) || body.length === 0) {
      throw new NablaError({ where: 'Residual', expected: 'at least one inner layer', found: 'none', hint: 'e.g. res(dense:64,relu,dense:64)' });
    }
    this.body = body;
  }

  protected init(inputShape: Shape, rng: Rng): Shape {
    let shape = inputShape;
    this.body.forEach((layer, j) => {
      shape = layer.build(shape, { backend: this.backend, rng, index: `${this.index}.body.${j}` });
    });
    if (!sameShape(shape, inputShape)) {
      throw new NablaError({
        where: this.label, expected: `inner layers that end on the input shape ${shapeToString(['N', ...inputShape])}, so x + f(x) is defined`,
        found: `output shape ${shapeToString(['N', ...shape])}`, hint: 'keep sizes: same units, "/same" padding, stride 1, no pooling inside',
      });
    }
    // Fixed objects with prefixed names, so the optimiser and state dicts see stable params.
    this.named = this.body.flatMap((l, j) => l.params().map((p) => ({ ...p, name: `body.${j}.${p.name}` })));
    this.namedBuffers = this.body.flatMap((l, j) => l.buffers().map((b) => ({ ...b, name: `body.${j}.${b.name}` })));
    return inputShape;
  }

  override setBackend(backend: Backend): void {
    super.setBackend(backend);
    for (const l of this.body) l.setBackend(backend);
  }

  override params(): Param[] {
    return this.named;
  }

  override buffers(): StateTensor[] {
    return this.namedBuffers;
  }

  override children(): Layer[] {
    return this.body;
  }

  forward(x: Tensor, training: boolean): Tensor {
    let h = x;
    for (const layer of this.body) h = layer.forward(h, training);
    // y = f(x) + x: addRowVector with one row of x.size columns.
    const y = this.out.get(this.backend, x.shape[0], this.outputShape);
    this.backend.addRowVector(y.data, h.data, x.data, 1, x.size);
    return y;
  }

  backward(dy: Tensor): Tensor {
    // The first inner layer owes dx only when someone needs ours.
    this.body[0].needsInputGrad = this.needsInputGrad;
    let g = dy;
    for (let j = this.body.length - 1; j >= 0; j--) g = this.body[j].backward(g);
    if (!this.needsInputGrad) return NO_GRAD;
    // dx = (∂f/∂x)ᵀ dy + dy: the skip path adds dy unchanged.
    const dx = this.dxBuf.get(this.backend, dy.shape[0], this.inputShape);
    this.backend.addRowVector(dx.data, g.data, dy.data, 1, dy.size);
    return dx;
  }

  config(): LayerConfig {
    return { type: this.type, layers: this.body.map((l) => l.config()) };
  }

  static readonly kind: LayerKind = {
    type: 'Residual',
    fromConfig(c, ctx) {
      if (!Array.isArray(c.layers) || c.layers.length === 0) {
        throw new NablaError({ where: ctx.where, expected: 'Residual "layers": a non-empty list of layer configs', found: JSON.stringify(c.layers) });
      }
      return new Residual((c.layers as LayerConfig[]).map((l, j) => ctx.layerFromConfig(l, `${ctx.where}, inner layer ${j}`)));
    },
    spec: {
      names: ['res', 'residual'],
      grammar: 'res(LAYERS)',
      parse(t) {
        if (t.arg !== undefined || t.options.length > 0) throw t.fail('res(LAYERS), e.g. res(dense:64,relu,dense:64)');
        return { type: 'Residual', layers: t.parseBody() };
      },
    },
    input: (c, first) => first(c.layers as LayerConfig[]),
    summary: (l) => `(${(l.children ?? []).map((c) => c.config.type).join(' → ')})`,
    // y = x + body(x): the inner layers' nodes, then Add.
    onnx(ctx) {
      const children = ctx.layer.children;
      if (!children) throw new NablaError({ where: ctx.where, expected: 'the inner layers with their shapes (children)', found: 'none' });
      const inner = ctx.value('body');
      ctx.emitLayers(children, ctx.input, inner, `${ctx.prefix}.body`);
      ctx.node('Add', [ctx.input, inner]);
    },
    // A module holding the inner layers as `body` (an nn.Sequential), so the names are "3.body.0.weight".
    pytorch(ctx) {
      ctx.define('Residual', [
        'class Residual(nn.Module):',
        "    # y = x + body(x), as nabla's Residual.",
        '    def __init__(self, *layers):',
        '        super().__init__()',
        '        self.body = nn.Sequential(*layers)',
        '',
        '    def forward(self, x):',
        '        return x + self.body(x)',
      ].join('\n'));
      return `Residual(${ctx.layers(ctx.layer.children ?? [], 'body')})`;
    },
  };
}
