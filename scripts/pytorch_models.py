"""nabla architectures (model-file JSON layer configs) as PyTorch modules, for the scripts that make
the PyTorch reference fixtures (make-pytorch-conv-reference.py, make-pytorch-layer-reference.py)
and for check-pytorch-load.py, which loads a nabla model file into PyTorch.
Every module gets PyTorch's state-dict names for the nabla model's tensors ("0.weight",
"2.body.0.weight"), so a fixture's state dict loads into both.
"""
import numpy as np
import torch


def f32(a):
    return np.asarray(a, dtype=np.float32).astype(np.float64)


class Residual(torch.nn.Module):
    """y = x + body(x); its state-dict names are body.<j>.<name>, as nabla's Residual."""

    def __init__(self, body):
        super().__init__()
        self.body = body

    def forward(self, x):
        return x + self.body(x)


def build(input_shape, layers):
    modules, shape = [], list(input_shape)
    for spec in layers:
        kind = spec['type']
        if kind == 'Conv2D':
            (kh, kw), (sh, sw), (ph, pw) = spec['kernelSize'], spec['stride'], spec['padding']
            modules.append(torch.nn.Conv2d(shape[0], spec['filters'], (kh, kw), (sh, sw), (ph, pw), bias=spec['bias']))
            shape = [spec['filters'], (shape[1] + 2 * ph - kh) // sh + 1, (shape[2] + 2 * pw - kw) // sw + 1]
        elif kind in ('MaxPool2D', 'AvgPool2D'):
            (kh, kw), (sh, sw), (ph, pw) = spec['poolSize'], spec['stride'], spec['padding']
            pool = torch.nn.MaxPool2d if kind == 'MaxPool2D' else torch.nn.AvgPool2d
            modules.append(pool((kh, kw), (sh, sw), (ph, pw)))
            shape = [shape[0], (shape[1] + 2 * ph - kh) // sh + 1, (shape[2] + 2 * pw - kw) // sw + 1]
        elif kind == 'Dropout':
            modules.append(torch.nn.Dropout(spec['rate']))
        elif kind in ('BatchNorm1D', 'BatchNorm2D'):
            norm = torch.nn.BatchNorm1d if kind == 'BatchNorm1D' else torch.nn.BatchNorm2d
            modules.append(norm(shape[0], eps=spec['eps'], momentum=spec['momentum']))
        elif kind == 'Flatten':
            modules.append(torch.nn.Flatten())
            shape = [int(np.prod(shape))]
        elif kind == 'Dense':
            modules.append(torch.nn.Linear(shape[0], spec['units'], bias=spec.get('bias', True)))
            shape = [spec['units']]
        elif kind == 'ReLU':
            modules.append(torch.nn.ReLU())
        elif kind == 'LeakyReLU':
            modules.append(torch.nn.LeakyReLU(spec.get('slope', 0.01)))
        elif kind == 'Sigmoid':
            modules.append(torch.nn.Sigmoid())
        elif kind == 'Tanh':
            modules.append(torch.nn.Tanh())
        elif kind == 'Softmax':
            modules.append(torch.nn.Softmax(dim=1))
        elif kind == 'LayerNorm':
            # nabla's LayerNorm normalises over the whole per-sample shape: nn.LayerNorm(shape).
            modules.append(torch.nn.LayerNorm(list(shape), eps=spec['eps'], elementwise_affine=True))
        elif kind == 'GELU':
            modules.append(torch.nn.GELU())  # approximate='none': x·Φ(x) with erf
        elif kind == 'Residual':
            modules.append(Residual(build(shape, spec['layers'])))
        else:
            raise SystemExit(f'unknown layer {kind}')
    return torch.nn.Sequential(*modules)
