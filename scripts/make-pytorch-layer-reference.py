"""Make test/fixtures/pytorch-gelu-layernorm-reference.json: what PyTorch computes for small models
holding nn.GELU() (exact) and nn.LayerNorm (over the per-sample shape, elementwise affine), so
nabla's GELU and LayerNorm are compared with a real reference without CI ever needing Python.

Run once (and again only if the cases below change):
    python3 scripts/make-pytorch-layer-reference.py
Made with PyTorch 2.13 (CPU), float64 for the reference values.

Each case: an architecture in nabla's model-file JSON, the state dict (its names as PyTorch's
nn.Sequential gives them: nn.LayerNorm has "weight" and "bias" of the normalized shape, nn.GELU
nothing), a batch of inputs and labels; the reference holds the output (LayerNorm and GELU have no
training/evaluation difference), the mean cross-entropy loss, the gradient of that loss with
respect to the input and every parameter gradient.
"""
import json
import numpy as np
import torch
from pytorch_models import build, f32

torch.set_default_dtype(torch.float64)
rng = np.random.default_rng(23)


def dense(units):
    return {'type': 'Dense', 'units': units, 'bias': True, 'init': 'he'}


def ln(eps=1e-5):
    return {'type': 'LayerNorm', 'eps': eps}


GELU = {'type': 'GELU'}

# (name, input shape, batch, input scale, layers)
CASES = [
    ('linear-layernorm-gelu-linear', [6], 5, 1.0, [dense(8), ln(), GELU, dense(4)]),
    # Large inputs: GELU's pre-activations reach both tails (|x| up to ≈ 10).
    ('gelu-tails', [4], 6, 4.0, [dense(7), GELU, dense(3)]),
    ('layernorm-first-eps', [7], 4, 1.0, [ln(0.1), dense(5), GELU, ln(1e-5), dense(3)]),
    ('conv-layernorm-chw-gelu', [2, 5, 4], 3, 1.0, [
        {'type': 'Conv2D', 'filters': 3, 'kernelSize': [3, 3], 'stride': [1, 1], 'padding': [1, 1], 'bias': True, 'init': 'he'},
        ln(1e-3), GELU, {'type': 'Flatten'}, dense(4),
    ]),
]


def make_case(name, input_shape, n, scale, layers):
    model = build(input_shape, layers)
    state = {}
    with torch.no_grad():
        for key, t in model.state_dict().items():
            module = model[int(key.split('.')[0])]
            if isinstance(module, torch.nn.LayerNorm) and key.endswith('weight'):
                value = f32(rng.uniform(0.5, 1.5, t.shape))  # γ away from its initial 1
            elif isinstance(module, torch.nn.LayerNorm):
                value = f32(rng.normal(0, 0.3, t.shape))
            else:
                value = f32(rng.normal(0, 0.5, t.shape))
            t.copy_(torch.tensor(value))
            state[key] = value.tolist()
    x = f32(rng.normal(0, scale, (n, *input_shape)))
    classes = layers[-1]['units']
    labels = rng.integers(0, classes, n)
    xt = torch.tensor(x, requires_grad=True)
    out = model(xt)
    loss = torch.nn.functional.cross_entropy(out, torch.tensor(labels))
    loss.backward()
    return {
        'name': name, 'inputShape': input_shape, 'layers': layers,
        'stateDictNames': list(model.state_dict().keys()), 'state': state,
        'x': x.reshape(n, -1).tolist(), 'y': np.eye(classes)[labels].tolist(),
        'output': out.tolist(), 'loss': loss.item(),
        'inputGrad': xt.grad.reshape(n, -1).tolist(),
        'grads': {k: p.grad.tolist() for k, p in model.named_parameters()},
    }


fixture = {'torch': torch.__version__, 'cases': [make_case(*c) for c in CASES]}
with open('test/fixtures/pytorch-gelu-layernorm-reference.json', 'w') as f:
    json.dump(fixture, f)
print('wrote test/fixtures/pytorch-gelu-layernorm-reference.json:', ', '.join(c[0] for c in CASES))
