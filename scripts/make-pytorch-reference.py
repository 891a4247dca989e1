"""Make test/fixtures/pytorch-reference.json: what PyTorch computes for small networks, so that
nabla's tests compare against a real reference without CI ever needing Python.

Run once (and again only if the cases below change):
    python3 scripts/make-pytorch-reference.py
Made with PyTorch 2.13 (CPU), float64 for the reference values.

Each case: a Linear-activation-Linear network with given weights, a batch of inputs and one-hot
targets; the reference holds the network output, the loss and every parameter gradient, and the
parameters after three optimiser steps. nabla's losses are PyTorch's as follows:
  ce  = nn.CrossEntropyLoss()            (mean over the batch)
  mse = nn.MSELoss(reduction='sum') / N  (sum over outputs, mean over the batch; see docs/math.md)
"""
import json
import numpy as np
import torch

torch.set_default_dtype(torch.float64)
rng = np.random.default_rng(7)


def f32(a):
    # The weights and inputs are exactly representable in float32, as nabla stores them.
    return np.asarray(a, dtype=np.float32).astype(np.float64)


def make_case(name, activation, output, loss, optimizer, opt_args):
    n, d_in, hidden, k = 5, 6, 4, 3
    w1, b1 = f32(rng.normal(0, 0.5, (hidden, d_in))), f32(rng.normal(0, 0.1, hidden))
    w2, b2 = f32(rng.normal(0, 0.5, (k, hidden))), f32(rng.normal(0, 0.1, k))
    x = f32(rng.normal(0, 1, (n, d_in)))
    labels = rng.integers(0, k, n)
    y = np.eye(k)[labels]

    act = {'relu': torch.nn.ReLU(), 'sigmoid': torch.nn.Sigmoid(), 'tanh': torch.nn.Tanh()}[activation]
    layers = [torch.nn.Linear(d_in, hidden), act, torch.nn.Linear(hidden, k)]
    if output == 'sigmoid':
        layers.append(torch.nn.Sigmoid())
    model = torch.nn.Sequential(*layers)
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor(w1)); model[0].bias.copy_(torch.tensor(b1))
        model[2].weight.copy_(torch.tensor(w2)); model[2].bias.copy_(torch.tensor(b2))
    xt, yt = torch.tensor(x), torch.tensor(y)

    def loss_of(out):
        if loss == 'ce':
            return torch.nn.functional.cross_entropy(out, torch.tensor(labels))
        return torch.nn.functional.mse_loss(out, yt, reduction='sum') / n

    out = model(xt)
    value = loss_of(out)
    value.backward()
    grads = {k_: p.grad.detach().numpy().tolist() for k_, p in model.state_dict(keep_vars=True).items()}

    opt = {'sgd': torch.optim.SGD, 'adam': torch.optim.Adam, 'adamw': torch.optim.AdamW}[optimizer](model.parameters(), **opt_args)
    for _ in range(3):
        opt.zero_grad()
        loss_of(model(xt)).backward()
        opt.step()
    after = {k_: v.detach().numpy().tolist() for k_, v in model.state_dict().items()}
    return {
        'name': name, 'activation': activation, 'outputActivation': output, 'loss': loss,
        'optimizer': optimizer, 'optimizerArgs': opt_args,
        'inputShape': [d_in], 'hidden': hidden, 'classes': k,
        'weights': {'0.weight': w1.tolist(), '0.bias': b1.tolist(), '2.weight': w2.tolist(), '2.bias': b2.tolist()},
        'x': x.tolist(), 'y': y.tolist(),
        'networkOutput': out.detach().numpy().tolist(), 'lossValue': value.item(), 'grads': grads,
        'afterSteps': after,
    }


cases = [
    make_case('relu-ce-sgd', 'relu', 'none', 'ce', 'sgd', {'lr': 0.1}),
    make_case('relu-ce-sgd-nesterov-wd', 'relu', 'none', 'ce', 'sgd', {'lr': 0.1, 'momentum': 0.9, 'nesterov': True, 'weight_decay': 0.01}),
    make_case('tanh-ce-adam', 'tanh', 'none', 'ce', 'adam', {'lr': 0.01, 'weight_decay': 0.001}),
    make_case('relu-ce-adamw', 'relu', 'none', 'ce', 'adamw', {'lr': 0.01, 'weight_decay': 0.1}),
    make_case('sigmoid-mse-sgd-momentum', 'sigmoid', 'sigmoid', 'mse', 'sgd', {'lr': 1.5, 'momentum': 0.5}),
]
with open('test/fixtures/pytorch-reference.json', 'w') as f:
    json.dump({'torch': torch.__version__, 'cases': cases}, f)
print(f'wrote {len(cases)} cases with torch {torch.__version__}')
