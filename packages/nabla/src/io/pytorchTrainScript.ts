/**
 * The fixed Python text of a PyTorch export (see pytorchModule.ts): the safetensors reader and
 * writer that end model.py, and train.py, which reads settings.json. Kept as plain strings so the
 * library stays browser-safe; test/pytorchExport.test.ts runs them against PyTorch.
 *
 * What train.py reproduces of a nabla run, and how:
 *   loss       ce: F.cross_entropy (mean over samples, as nabla); mse, huber, bce: summed over a
 *              sample's outputs, then the mean over samples (nabla's convention, K × PyTorch's 'mean')
 *   optimiser  torch.optim.SGD / Adam / AdamW with the recorded lr, momentum, nesterov, weight
 *              decay (nabla's optimisers follow PyTorch's update rules)
 *   schedule   nabla's per-batch formula (warm-up, constant, cosine, step, exponential), set
 *              before each step from the global step count
 *   data       MNIST IDX (plain or .gz), CSV, .npy (x + labels), .npz; uint8 / 255, pixel CSVs / 255;
 *              the same test and validation rows as nabla (its xoshiro128** shuffle is ported)
 *   batches    ceil(n / batch) per epoch, reshuffled every epoch (not nabla's order: another RNG)
 */

/** The safetensors reader/writer and load_model, appended to model.py. */
export const PYTORCH_SAFETENSORS_CODE = String.raw`
# safetensors dtypes read here (nabla writes F32, and I64 for BatchNorm's num_batches_tracked).
_DTYPES = {
    'F32': (np.dtype('<f4'), torch.float32),
    'F64': (np.dtype('<f8'), torch.float64),
    'F16': (np.dtype('<f2'), torch.float16),
    'I64': (np.dtype('<i8'), torch.int64),
    'I32': (np.dtype('<i4'), torch.int32),
    'U8': (np.dtype('u1'), torch.uint8),
}


def read_safetensors(path):
    """(tensors by name, metadata dict) from a .safetensors file, checked like nabla checks it."""
    with open(path, 'rb') as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError(f'{path}: not a safetensors file (shorter than its 8-byte header length)')
    (n,) = struct.unpack('<Q', data[:8])
    if 8 + n > len(data):
        raise ValueError(f'{path}: header of {n} bytes runs past the end of the file ({len(data)} bytes)')
    header = json.loads(data[8:8 + n].decode('utf-8'))
    metadata = header.pop('__metadata__', {}) or {}
    base = 8 + n
    tensors = {}
    for name, info in header.items():
        if info['dtype'] not in _DTYPES:
            raise ValueError(f'{path}: tensor {name!r} has dtype {info["dtype"]}, not one of {sorted(_DTYPES)}')
        np_dtype, _ = _DTYPES[info['dtype']]
        start, end = info['data_offsets']
        shape = tuple(info['shape'])
        count = int(np.prod(shape)) if shape else 1
        if end - start != count * np_dtype.itemsize or base + end > len(data):
            raise ValueError(f'{path}: tensor {name!r} of shape {list(shape)} does not fit its data offsets {[start, end]}')
        array = np.frombuffer(data, dtype=np_dtype, count=count, offset=base + start).reshape(shape)
        tensors[name] = torch.from_numpy(array.astype(np_dtype.newbyteorder('='), copy=True))
    return tensors, metadata


def write_safetensors(path, tensors, metadata):
    """Write tensors (float32, or int64 for integer buffers) and string metadata atomically."""
    header = {'__metadata__': {k: str(v) for k, v in metadata.items()}}
    chunks = []
    offset = 0
    for name, t in tensors.items():
        t = t.detach().cpu().contiguous()
        if t.dtype in (torch.int64, torch.int32, torch.uint8):
            array, dtype = t.to(torch.int64).numpy().astype('<i8'), 'I64'
        else:
            array, dtype = t.to(torch.float32).numpy().astype('<f4'), 'F32'
        raw = array.tobytes()
        header[name] = {'dtype': dtype, 'shape': list(t.shape), 'data_offsets': [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(',', ':')).encode('utf-8')
    text += b' ' * (-len(text) % 8)  # the format pads the header to a multiple of 8 bytes
    tmp = f'{path}.tmp-{os.getpid()}'
    with open(tmp, 'wb') as f:
        f.write(struct.pack('<Q', len(text)))
        f.write(text)
        for raw in chunks:
            f.write(raw)
    os.replace(tmp, path)  # never a half-written model file


def load_model(path):
    """(model, metadata): build_model() with the file's weights, every name checked (strict)."""
    model = build_model()
    tensors, metadata = read_safetensors(path)
    model.load_state_dict(tensors, strict=True)
    return model, metadata
`;

/** train.py: continues training with settings.json (see the header above). */
export const PYTORCH_TRAIN_SCRIPT = String.raw`"""Continue training a nabla model in PyTorch, with the run's own settings (settings.json).

One process:        python3 train.py --epochs 2 --out trained.safetensors
DistributedDataParallel (gloo, CPU), W processes:
                    torchrun --nproc_per_node W train.py --epochs 2 --out trained.safetensors
The batch size stays the run's global one: each process takes batch-size / W samples of a step.
The result is a .safetensors file with nabla's metadata: nabla eval / predict / train --init read it.
"""
import argparse
import gzip
import json
import math
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from model import build_model, load_model, write_safetensors  # noqa: E402


class Rng:
    """nabla's Rng (xoshiro128** seeded by splitmix32): the same shuffle picks the same held-out rows."""

    def __init__(self, seed):
        x = seed & 0xFFFFFFFF
        s = []
        for _ in range(4):
            x = (x + 0x9E3779B9) & 0xFFFFFFFF
            z = x
            z = ((z ^ (z >> 16)) * 0x85EBCA6B) & 0xFFFFFFFF
            z = ((z ^ (z >> 13)) * 0xC2B2AE35) & 0xFFFFFFFF
            s.append((z ^ (z >> 16)) & 0xFFFFFFFF)
        self.s = s

    def next_uint32(self):
        s0, s1, s2, s3 = self.s
        rotl = lambda v, k: ((v << k) | (v >> (32 - k))) & 0xFFFFFFFF  # noqa: E731
        result = (rotl((s1 * 5) & 0xFFFFFFFF, 7) * 9) & 0xFFFFFFFF
        t = (s1 << 9) & 0xFFFFFFFF
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = rotl(s3, 11)
        self.s = [s0, s1, s2, s3]
        return result

    def permutation(self, n):
        order = list(range(n))
        for i in range(n - 1, 0, -1):
            j = int((self.next_uint32() / 4294967296) * (i + 1))
            order[i], order[j] = order[j], order[i]
        return np.array(order, dtype=np.int64)


# ---------------------------------------------------------------------------------------------
# Data: the formats nabla reads, scaled as nabla scales them.

def read_idx(path):
    opener = gzip.open if path.endswith('.gz') else open
    with opener(path, 'rb') as f:
        data = f.read()
    zero, dtype, ndim = struct.unpack('>HBB', data[:4])
    if zero != 0 or dtype != 0x08:
        raise ValueError(f'{path}: not an IDX file of unsigned bytes')
    dims = struct.unpack('>' + 'I' * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def find_idx(folder, base):
    dotted = base.replace('-idx', '.idx')
    for name in (base, base + '.gz', dotted, dotted + '.gz'):
        path = os.path.join(folder, name)
        if os.path.exists(path):
            return path
    raise SystemExit(f'train.py: error: data folder {folder!r} has no {base} (or {base}.gz)')


def load_mnist(folder):
    def split(prefix):
        x = read_idx(find_idx(folder, f'{prefix}-images-idx3-ubyte')).astype(np.float32) / 255.0
        y = read_idx(find_idx(folder, f'{prefix}-labels-idx1-ubyte')).astype(np.int64)
        return x.reshape(len(x), -1), y
    return split('train'), split('t10k')


def is_number(text):
    try:
        float(text)
        return True
    except ValueError:
        return False


def load_csv(path, label, task, class_names):
    import csv
    with open(path, newline='') as f:
        rows = [r for r in csv.reader(f) if r]
    first, second = rows[0], rows[1] if len(rows) > 1 else None
    has_header = all(not is_number(v) for v in first) or (
        second is not None and any(not is_number(v) and c < len(second) and is_number(second[c]) for c, v in enumerate(first)))
    header = [h.strip() for h in first] if has_header else None
    body = rows[1:] if has_header else rows
    if isinstance(label, int):
        col = label
    elif isinstance(label, str):
        col = header.index(label)
    else:
        lower = [h.lower() for h in header] if header else []
        named = next((lower.index(n) for n in ('label', 'target', 'class', 'y') if n in lower), -1)
        texts = [c for c, v in enumerate(body[0]) if not is_number(v)]
        col = named if named >= 0 else texts[0] if len(texts) == 1 else 0
    features = [c for c in range(len(first)) if c != col]
    pixels = header is not None and all(header[c].lower().startswith('pixel') and header[c][5:].isdigit() for c in features)
    x = np.array([[float(r[c]) for c in features] for r in body], dtype=np.float32)
    if pixels:
        x /= 255.0
    cells = [r[col].strip() for r in body]
    if task == 'regression':
        return x, np.array([float(v) for v in cells], dtype=np.float32).reshape(-1, 1)
    if class_names:
        index = {n: i for i, n in enumerate(class_names)}
        return x, np.array([index[v] for v in cells], dtype=np.int64)
    return x, np.array([int(float(v)) for v in cells], dtype=np.int64)


def scaled(x):
    return x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else x.astype(np.float32)


def channels_first(x, input_shape):
    # (N, H, W, C) channels-last arrays are transposed to nabla's (N, C, H, W).
    if x.ndim == 4 and len(input_shape) == 3 and x.shape[1:] != tuple(input_shape) and x.shape[3] == input_shape[0]:
        x = x.transpose(0, 3, 1, 2)
    return x.reshape(len(x), -1)


def labels_of(y, task):
    return y.astype(np.float32).reshape(len(y), -1) if task == 'regression' else y.astype(np.int64).reshape(-1)


def hold_out(x, y, fraction):
    n = round(len(x) * fraction)
    return (x[:len(x) - n], y[:len(y) - n]), (x[len(x) - n:], y[len(y) - n:])


def load_data(s, path, task, limit, val):
    """(train, validation, test) as (x float32 (N, *inputShape), y) pairs, as nabla's train made them."""
    data = s['data']
    kind = data.get('kind', 'mnist')
    shape = s['inputShape']
    test = None
    if kind == 'mnist':
        (x, y), test = load_mnist(path)
    elif kind == 'npz':
        z = np.load(path)
        if 'x_train' in z:
            x, y = channels_first(scaled(z['x_train']), shape), labels_of(z['y_train'], task)
            test = (channels_first(scaled(z['x_test']), shape), labels_of(z['y_test'], task))
        else:
            x, y = channels_first(scaled(z['x']), shape), labels_of(z['y'], task)
    elif kind == 'npy':
        xp = os.path.join(path, 'x.npy') if os.path.isdir(path) else path
        yp = os.path.join(path, 'y.npy') if os.path.isdir(path) else data.get('labels')
        x, y = channels_first(scaled(np.load(xp)), shape), labels_of(np.load(yp), task)
    elif kind == 'csv':
        x, y = load_csv(path, data.get('label'), task, s.get('classNames'))
        if data.get('testData'):
            test = load_csv(data['testData'], data.get('label'), task, s.get('classNames'))
    else:
        raise SystemExit(f'train.py: error: data of kind {kind!r} (an image folder) is not read by this script; '
                         'convert it to an .npz (x_train, y_train, x_test, y_test) and pass --data file.npz')
    if kind != 'mnist' and not (kind == 'npz' and test is not None):
        # nabla shuffles such sources once with Rng(seed) before cutting the test and validation rows.
        order = Rng(int(data.get('seed', s['seed']))).permutation(len(x))
        x, y = x[order], y[order]
        if test is None and (data.get('testSplit') or 0) > 0:
            (x, y), test = hold_out(x, y, data['testSplit'])
    if limit:
        x, y = x[:limit], y[:limit]
    if val >= len(x):
        raise SystemExit(f'train.py: error: --val {val} leaves no training samples of {len(x)}')
    # The validation rows are the last ones, as nabla's --val; every input in the model's shape.
    shaped = lambda a: np.ascontiguousarray(a.reshape(len(a), *s['inputShape']))  # noqa: E731
    train = (shaped(x[:len(x) - val]), y[:len(y) - val])
    valid = (shaped(x[len(x) - val:]), y[len(y) - val:]) if val > 0 else None
    return train, valid, None if test is None else (shaped(test[0]), test[1])


# ---------------------------------------------------------------------------------------------
# Loss, learning rate, evaluation: nabla's definitions.

def loss_of(name, out, y, task):
    if name == 'ce':
        return F.cross_entropy(out, y)
    if task == 'classification':
        y = F.one_hot(y, out.shape[1]).to(out.dtype) if out.shape[1] > 1 else y.to(out.dtype).reshape(-1, 1)
    if name == 'mse':
        per = (out - y) ** 2
    elif name == 'huber':
        per = F.huber_loss(out, y, reduction='none', delta=1.0)
    elif name == 'bce':
        per = F.binary_cross_entropy_with_logits(out, y, reduction='none')
    else:
        raise SystemExit(f'train.py: error: unknown loss {name!r}')
    return per.reshape(len(out), -1).sum(1).mean()  # nabla: sum over a sample's outputs, mean over samples


def scheduled_lr(lr0, sched, step, batches, total):
    w = round((sched.get('warmup') or 0) * batches)
    if step < w:
        return lr0 * (step + 1) / w
    t = step - w
    span = max(1, total - w)
    kind = sched.get('type') or 'constant'
    if kind == 'cosine':
        return 0.5 * lr0 * (1 + math.cos(math.pi * min(t, span) / span))
    if kind == 'step':
        return lr0 * (sched.get('gamma') or 0.5) ** (t // ((sched.get('stepSize') or 1) * batches))
    if kind == 'exponential':
        return lr0 * (sched.get('gamma') or 0.9) ** (t / batches)
    return lr0


def correct_of(out, y, task):
    if task == 'regression':
        return 0
    if out.shape[1] == 1:
        return int(((out.reshape(-1) > 0).long() == y.reshape(-1)).sum())
    return int((out.argmax(1) == y).sum())


@torch.no_grad()
def evaluate(model, x, y, loss_name, task, batch=1000):
    model.eval()
    total, correct = 0.0, 0
    for i in range(0, len(x), batch):
        xb, yb = torch.from_numpy(x[i:i + batch]), torch.from_numpy(y[i:i + batch])
        out = model(xb)
        total += float(loss_of(loss_name, out, yb, task)) * len(xb)
        correct += correct_of(out, yb, task)
    return total / len(x), correct / len(x)


def main():
    with open(os.path.join(HERE, 'settings.json')) as f:
        s = json.load(f)
    p = argparse.ArgumentParser(description='Continue training the exported nabla model with its own settings (settings.json).')
    p.add_argument('--weights', default=os.path.join(HERE, 'model.safetensors'), help='weights to start from (default: model.safetensors here)')
    p.add_argument('--data', default=s['data'].get('path'), help=f'the data (a {s["data"].get("kind", "mnist")} source; default: the path the run recorded)')
    p.add_argument('--epochs', type=int, default=s['epochs'], help=f'epochs to train (default: the run\'s {s["epochs"]})')
    p.add_argument('--batch-size', type=int, default=s['batchSize'], help=f'global batch size (default: the run\'s {s["batchSize"]})')
    p.add_argument('--lr', type=float, default=s['optimizer']['lr'], help=f'base learning rate (default: the run\'s {s["optimizer"]["lr"]})')
    recorded = (s['trainSamples'] + (s.get('valSamples') or 0)) if s.get('trainSamples') else 0
    p.add_argument('--limit', type=int, default=recorded, help='use only the first N training samples, as nabla train --limit '
                   f'(default: the run\'s {recorded or "all"}; 0: all)')
    p.add_argument('--val', type=int, default=s.get('valSamples') or 0, help=f'samples held out for validation, the last ones (default: the run\'s {s.get("valSamples") or 0})')
    p.add_argument('--test-limit', type=int, default=None, help='test on the first N test samples only')
    p.add_argument('--seed', type=int, default=s['seed'], help='seed for shuffling and dropout')
    p.add_argument('--out', default='trained.safetensors', help='the .safetensors file to write (nabla loads it)')
    p.add_argument('--threads', type=int, default=None, help='intra-op threads per process (default: torch\'s; under torchrun 1)')
    p.add_argument('--json', action='store_true', help='print one JSON object per epoch and a final result')
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    if a.data is None:
        raise SystemExit('train.py: error: no data path recorded; give --data <path>')
    if os.path.abspath(a.out) == os.path.abspath(a.weights):
        raise SystemExit('train.py: error: --out must not overwrite the weights it starts from')

    world = int(os.environ.get('WORLD_SIZE', '1'))
    rank = int(os.environ.get('RANK', '0'))
    if world > 1:
        dist.init_process_group('gloo')
    torch.manual_seed(a.seed + rank)
    task, loss_name = s['task'], s['loss']

    (xt, yt), valid, test = load_data(s, a.data, task, a.limit, a.val)
    if a.test_limit is not None and test is not None:
        test = (test[0][:a.test_limit], test[1][:a.test_limit])
    model, _ = load_model(a.weights)
    net = model
    if world > 1:
        # NOTE: BatchNorm statistics stay per process (batch-size / W samples each), not synced.
        net = torch.nn.parallel.DistributedDataParallel(model)

    o = s['optimizer']
    params = model.parameters()
    if o['name'] == 'sgd':
        opt = torch.optim.SGD(params, lr=a.lr, momentum=o['momentum'], nesterov=o['nesterov'], weight_decay=o['weightDecay'])
    elif o['name'] == 'adamw':
        opt = torch.optim.AdamW(params, lr=a.lr, betas=(o['beta1'], o['beta2']), eps=o['eps'], weight_decay=o['weightDecay'])
    else:
        opt = torch.optim.Adam(params, lr=a.lr, betas=(o['beta1'], o['beta2']), eps=o['eps'], weight_decay=o['weightDecay'])

    per_rank = max(1, a.batch_size // world)
    train_set = torch.utils.data.TensorDataset(torch.from_numpy(xt), torch.from_numpy(yt))
    sampler = torch.utils.data.distributed.DistributedSampler(train_set, num_replicas=world, rank=rank, shuffle=True, seed=a.seed) if world > 1 else None
    gen = torch.Generator().manual_seed(a.seed)
    loader = torch.utils.data.DataLoader(train_set, batch_size=per_rank, sampler=sampler, shuffle=sampler is None, generator=None if sampler else gen)
    batches = len(loader)
    total = max(1, a.epochs * batches)
    say = (lambda line: print(line, flush=True)) if rank == 0 else (lambda line: None)
    say(f'training on {len(xt)} samples ({world} process{"es" if world > 1 else ""}, {per_rank} per process per step), '
        f'validating on {0 if valid is None else len(valid[0])}; {a.epochs} epochs, {o["name"]} lr {a.lr} ({s["schedule"]["type"]}), loss {loss_name}')

    history = []
    step = 0
    t_start = time.perf_counter()
    for epoch in range(1, a.epochs + 1):
        if sampler is not None:
            sampler.set_epoch(epoch)
        net.train()
        t0 = time.perf_counter()
        loss_sum, correct, seen = 0.0, 0, 0
        lr = a.lr
        for xb, yb in loader:
            lr = scheduled_lr(a.lr, s['schedule'], step, batches, total)
            for g in opt.param_groups:
                g['lr'] = lr
            opt.zero_grad(set_to_none=True)
            out = net(xb)
            loss = loss_of(loss_name, out, yb, task)
            loss.backward()
            if s.get('clipNorm'):
                torch.nn.utils.clip_grad_norm_(model.parameters(), s['clipNorm'])
            opt.step()
            step += 1
            loss_sum += loss.item() * len(xb)
            correct += correct_of(out.detach(), yb, task)
            seen += len(xb)
        figures = torch.tensor([loss_sum, correct, seen], dtype=torch.float64)
        if world > 1:
            dist.all_reduce(figures)
        seconds = time.perf_counter() - t0
        log = {'epoch': epoch, 'loss': float(figures[0] / figures[2]), 'seconds': seconds, 'lr': lr}
        if task == 'classification':
            log['accuracy'] = float(figures[1] / figures[2])
        if valid is not None and len(valid[0]) > 0:
            log['valLoss'], va = evaluate(model, valid[0], valid[1], loss_name, task)
            if task == 'classification':
                log['valAccuracy'] = va
        history.append(log)
        if a.json:
            say(json.dumps({'type': 'epoch', **log}))
        else:
            acc = f'  acc {100 * log["accuracy"]:.2f}%' if 'accuracy' in log else ''
            val = f'  val_loss {log["valLoss"]:.4f}' + (f'  val_acc {100 * log["valAccuracy"]:.2f}%' if 'valAccuracy' in log else '') if 'valLoss' in log else ''
            say(f'epoch {epoch}/{a.epochs}  loss {log["loss"]:.4f}{acc}{val}  {seconds:.1f}s')

    result = {'type': 'result', 'train_seconds': time.perf_counter() - t_start, 'model': a.out}
    training = {k: v for k, v in s['training'].items() if k not in ('history', 'test', 'validation', 'trainSeconds', 'diverged', 'earlyStopping')}
    training.update({
        'epochs': a.epochs, 'batchSize': a.batch_size, 'seed': a.seed, 'trainSamples': len(xt),
        'valSamples': 0 if valid is None else len(valid[0]), 'history': {'epochs': history},
        'trainSeconds': result['train_seconds'], 'initFrom': os.path.basename(a.weights),
        'continuedIn': f'PyTorch {torch.__version__}, {world} process{"es" if world > 1 else ""} (nabla export --pytorch)',
    })
    if rank == 0 and test is not None and len(test[0]) > 0:
        test_loss, test_acc = evaluate(model, test[0], test[1], loss_name, task)
        training['test'] = {'loss': test_loss, **({'accuracy': test_acc} if task == 'classification' else {})}
        result.update({'test_loss': test_loss, 'test_accuracy': test_acc if task == 'classification' else None, 'test_samples': len(test[0])})
        if not a.json:
            say(f'test loss {test_loss:.4f}' + (f'  test accuracy {100 * test_acc:.2f}% ({round(test_acc * len(test[0]))}/{len(test[0])})' if task == 'classification' else ''))
    if rank == 0:
        write_safetensors(a.out, model.state_dict(), {
            'format': 'pt', 'nabla': '1', 'architecture': s['architecture'], 'training': json.dumps(training),
        })
        say(json.dumps(result) if a.json else f'trained in {result["train_seconds"]:.1f}s; model saved to {a.out}')
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()


if __name__ == '__main__':
    main()
`;
