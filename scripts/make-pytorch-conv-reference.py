"""Make test/fixtures/pytorch-conv-reference.json: what PyTorch computes for small convolutional
networks (Conv2d with stride/padding/no bias, BatchNorm2d/1d in training mode, max and average
pooling with padding, Flatten, Linear), so nabla's image layers are compared with a real reference
without CI ever needing Python; and test/fixtures/pytorch-residual-reference.json, the same for
networks with residual blocks (a module x + body(x), body an nn.Sequential, as nabla's Residual).

Run once (and again only if the cases below change):
    python3 scripts/make-pytorch-conv-reference.py
Made with PyTorch 2.13 (CPU), float64 for the reference values.

Each case: an architecture in nabla's model-file JSON, the state dict (weights and BatchNorm
buffers), a batch of inputs and labels; the reference holds the training-mode output, the mean
cross-entropy loss, every parameter gradient, the running statistics after that one training
forward, and the evaluation-mode output afterwards.
"""
import json
import numpy as np
import torch
from pytorch_models import build, f32

torch.set_default_dtype(torch.float64)
rng = np.random.default_rng(11)


def conv(f, k, s, p, bias=True):
    return {'type': 'Conv2D', 'filters': f, 'kernelSize': k, 'stride': s, 'padding': p, 'bias': bias, 'init': 'he'}


def bn(kind):
    return {'type': kind, 'momentum': 0.1, 'eps': 1e-5}


CASES = [
    ('conv-bn-pools', [2, 9, 7], 4, [
        conv(3, [3, 2], [2, 1], [1, 1]), bn('BatchNorm2D'), {'type': 'ReLU'},
        {'type': 'MaxPool2D', 'poolSize': [2, 2], 'stride': [1, 1], 'padding': [1, 0]},
        conv(4, [3, 3], [1, 1], [0, 0], bias=False),
        {'type': 'AvgPool2D', 'poolSize': [2, 2], 'stride': [2, 2], 'padding': [1, 1]},
        {'type': 'Flatten'}, {'type': 'Dense', 'units': 5, 'bias': True, 'init': 'he'}, bn('BatchNorm1D'), {'type': 'Tanh'},
        {'type': 'Dense', 'units': 3, 'bias': True, 'init': 'he'},
    ]),
    ('lenet-like', [1, 12, 11], 3, [
        conv(4, [5, 5], [1, 1], [2, 2]), {'type': 'ReLU'},
        {'type': 'MaxPool2D', 'poolSize': [3, 3], 'stride': [2, 2], 'padding': [1, 1]},
        conv(2, [2, 3], [2, 2], [0, 1]), {'type': 'Tanh'},
        {'type': 'Flatten'}, {'type': 'Dense', 'units': 4, 'bias': True, 'init': 'he'},
    ]),
]


def make_case(name, input_shape, n, layers):
    model = build(input_shape, layers)
    state = {}
    with torch.no_grad():
        for key, t in model.state_dict().items():
            if key.endswith('num_batches_tracked'):
                state[key] = int(t)
                continue
            if key.endswith('running_var'):
                value = f32(rng.uniform(0.5, 1.5, t.shape))
            elif key.endswith('running_mean'):
                value = f32(rng.normal(0, 0.2, t.shape))
            elif key.endswith('weight') and t.dim() == 1:  # BatchNorm gamma
                value = f32(rng.uniform(0.5, 1.5, t.shape))
            else:
                value = f32(rng.normal(0, 0.4, t.shape))
            t.copy_(torch.tensor(value))
            state[key] = value.tolist()
    x = f32(rng.normal(0, 1, (n, *input_shape)))
    classes = layers[-1]['units']
    labels = rng.integers(0, classes, n)
    model.train()
    out = model(torch.tensor(x))
    loss = torch.nn.functional.cross_entropy(out, torch.tensor(labels))
    loss.backward()
    grads = {k: p.grad.tolist() for k, p in model.named_parameters()}
    buffers = {k: v.tolist() for k, v in model.state_dict().items() if 'running' in k or 'num_batches' in k}
    model.eval()
    with torch.no_grad():
        eval_out = model(torch.tensor(x))
    return {
        'name': name, 'inputShape': input_shape, 'layers': layers, 'state': state,
        'x': x.reshape(n, -1).tolist(), 'y': np.eye(classes)[labels].tolist(),
        'trainOutput': out.tolist(), 'loss': loss.item(), 'grads': grads, 'buffersAfter': buffers,
        'evalOutput': eval_out.tolist(),
    }


def dense(units):
    return {'type': 'Dense', 'units': units, 'bias': True, 'init': 'he'}


RESIDUAL_CASES = [
    ('residual-mlp', [6], 5, [
        dense(8), {'type': 'ReLU'},
        {'type': 'Residual', 'layers': [dense(8), {'type': 'Tanh'}, dense(8)]}, {'type': 'ReLU'},
        {'type': 'Residual', 'layers': [dense(8), bn('BatchNorm1D')]}, dense(3),
    ]),
    ('residual-cnn', [2, 6, 5], 4, [
        conv(3, [3, 3], [1, 1], [1, 1]), {'type': 'ReLU'},
        {'type': 'Residual', 'layers': [
            conv(3, [3, 3], [1, 1], [1, 1], bias=False), bn('BatchNorm2D'), {'type': 'ReLU'},
            conv(3, [3, 1], [1, 1], [1, 0]),
        ]}, {'type': 'ReLU'},
        {'type': 'MaxPool2D', 'poolSize': [2, 2], 'stride': [2, 2], 'padding': [0, 0]},
        {'type': 'Flatten'}, dense(3),
    ]),
]

for path, cases in [('test/fixtures/pytorch-conv-reference.json', CASES), ('test/fixtures/pytorch-residual-reference.json', RESIDUAL_CASES)]:
    fixture = {'torch': torch.__version__, 'cases': [make_case(*c) for c in cases]}
    with open(path, 'w') as f:
        json.dump(fixture, f)
    print(f'wrote {path}:', ', '.join(c[0] for c in cases))
