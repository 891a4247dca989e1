"""Make test/fixtures/pytorch-loss-reference.json: what PyTorch computes for nn.HuberLoss and
nn.BCEWithLogitsLoss on fixed inputs, so nabla's 'huber' and 'bce' are compared with a real
reference without CI ever needing Python.

Run once (and again only if the cases below change):
    python3 scripts/make-pytorch-loss-reference.py
Made with PyTorch 2.13 (CPU), float64 for the reference values.

Each case: rows × cols inputs (float32-representable), targets, the loss's parameter, and
PyTorch's value and input gradient with reduction 'sum' (so the test divides by its m, the rows:
nabla's convention, sum over a sample's outputs and mean over samples) and with reduction 'mean'
(nabla's value / cols).
"""
import json
import numpy as np
import torch

torch.set_default_dtype(torch.float64)
rng = np.random.default_rng(14)


def f32(a):
    return np.asarray(a, dtype=np.float32).astype(np.float64)


def case(name, loss, y, t, rows, cols, **params):
    y = f32(y).reshape(rows, cols)
    t = f32(t).reshape(rows, cols)
    out = {'name': name, 'loss': loss, 'rows': rows, 'cols': cols, 'params': params,
           'y': y.ravel().tolist(), 'target': t.ravel().tolist()}
    for reduction in ('sum', 'mean'):
        yt = torch.tensor(y, requires_grad=True)
        if loss == 'huber':
            fn = torch.nn.HuberLoss(reduction=reduction, delta=params['delta'])
        else:
            fn = torch.nn.BCEWithLogitsLoss(reduction=reduction)
        v = fn(yt, torch.tensor(t))
        v.backward()
        out[reduction] = {'value': v.item(), 'grad': yt.grad.numpy().ravel().tolist()}
    return out


cases = []
# Huber: errors exactly at ±delta, just inside and outside, zero, and far away.
for delta in (1.0, 0.5, 2.0):
    d = np.array([0, delta, -delta, delta * 0.999, -delta * 1.001, 3 * delta, -7.5 * delta, 0.25 * delta])
    t = rng.normal(size=d.size)
    # The error a − t of float32 values must be exactly d at the boundaries: t are multiples of 2^-10.
    t = np.round(t * 1024) / 1024
    y = t + d
    cases.append(case(f'huber-delta{delta}-boundaries', 'huber', y, t, 2, 4, delta=delta))
y = rng.normal(size=15) * 3
t = rng.normal(size=15)
cases.append(case('huber-delta1-random-5x3', 'huber', y, t, 5, 3, delta=1.0))
# BCE with logits: 0/1 and soft targets, moderate and huge logits (stability).
z = np.array([-3.0, -0.5, 0.0, 0.5, 3.0, 20.0, -20.0, 1000.0, -1000.0, 80.0])
t = np.array([1, 0, 1, 1, 0, 1, 0, 0, 1, 0], dtype=np.float64)
cases.append(case('bce-0-1-targets-huge-logits', 'bce', z, t, 10, 1))
z = rng.normal(size=12) * 2
t = rng.uniform(size=12)
cases.append(case('bce-soft-targets-4x3', 'bce', z, t, 4, 3))

path = 'test/fixtures/pytorch-loss-reference.json'
with open(path, 'w') as f:
    json.dump({'torch': torch.__version__, 'cases': cases}, f, indent=1)
print(f'wrote {path}: {len(cases)} cases')
