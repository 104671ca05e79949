#!/usr/bin/env python3
"""The source notebook's MLP and CNN, and ResNet-9, in PyTorch (CPU): what a user might pick
instead, timed.

What it measures
    Trains the MLP (3072-512-512-100, ReLU, dropout 0.2; RMSprop with Keras's defaults), the
    CNN (conv 32 and 64 with 3x3 kernels, 2x2 max pooling, dropout 0.5, dense 100; Adam with
    Keras's defaults) or ResNet-9 (lib/models/resnet9.ts with HYP.resnet9, passed as JSON by
    --resnet9: SGD with Nesterov momentum and weight decay of the conv and linear weights, label
    smoothing) with the same shapes, batch size and softmax cross-entropy as lib/ does, and
    times training epochs (forward, backward, optimizer step over the batches; no validation).

How `deno task bench --torch` calls it (lib/bench/reference.ts)
    Timing: <python> torch_reference.py --serve --model M --data DIR [--resnet9 JSON]
    It builds the model and loads the images once, prints one JSON line
    {"ready": true, "engine": ..., "params": P, "train_images": N}, then answers each line
    "epoch" on stdin with one epoch over the training images, in the order they arrive (our
    epoch's shuffle, so both sides train on the same batches), and one JSON line
    {"seconds": s}, until "quit" or the end of stdin. The first request is the warm-up.

    Accuracy: <python> torch_reference.py --model resnet9 --resnet9 JSON --data DIR \\
                  --epochs E --one-cycle
    trains E epochs on shuffled batches (the learning rate on HYP.resnet9's one-cycle schedule)
    and prints one JSON line last:
        {"engine": "torch 2.x cpu", "threads": T, "model": M, "train_images": N,
         "seconds_per_epoch": [s1, ...], "train_images_per_second": mean, "test_accuracy": a}
    It runs with PyTorch from pip (<cache>/bench/torch-venv) and, when installed, Debian's
    python3-torch. Without --data it trains on --images random images, after one untimed epoch.

Set-up
    bench.ts makes the environment itself, once, under <cache>/bench/torch-venv. By hand:
        python3 -m venv .venv-torch && .venv-torch/bin/pip install "torch==2.13.0+cpu" numpy
        .venv-torch/bin/python lib/bench/torch_reference.py --model cnn --images 4096
    (+cpu builds are on PyTorch's own index: where pip only reaches PyPI, add
    --extra-index-url https://download.pytorch.org/whl/cpu. Debian's: apt-get install
    python3-torch.)

Other flags: --batch-size N (default 128), --threads N (torch.set_num_threads; default all
cores), --seed N, --limit-train N.
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
from torch import nn

NUM_CLASSES = 100
RECORD_BYTES = 2 + 32 * 32 * 3  # coarse label, fine label, 3 planes of 32x32


def mlp():
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(3072, 512), nn.ReLU(), nn.Dropout(0.2),
        nn.Linear(512, 512), nn.ReLU(), nn.Dropout(0.2),
        nn.Linear(512, NUM_CLASSES),
    )


def cnn():
    return nn.Sequential(
        nn.Conv2d(3, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Dropout(0.5),
        nn.Linear(64 * 6 * 6, NUM_CLASSES),
    )


class Residual(nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return x + self.inner(x)


class Scale(nn.Module):
    def __init__(self, factor):
        super().__init__()
        self.factor = factor

    def forward(self, x):
        return x * self.factor


def resnet9(hyp):
    """lib/models/resnet9.ts: conv-BN-ReLU blocks of widths w, 2w, 4w, 8w with max pools and two
    residuals, the 4x4 map flattened (or max-pooled), scaled, linear to 100 logits."""
    norm = hyp["batchNorm"]

    def block(cin, cout):
        return nn.Sequential(
            nn.Conv2d(cin, cout, 3, padding=1, bias=False),
            # PyTorch's momentum is the new batch's weight: Keras's 0.9 is its 0.1.
            nn.BatchNorm2d(cout, momentum=1 - norm["momentum"], eps=norm["epsilon"]),
            nn.ReLU())

    w = hyp["width"]
    head = nn.Flatten() if hyp["head"] == "flatten" else nn.Sequential(
        nn.AdaptiveMaxPool2d(1), nn.Flatten())
    features = 8 * w * (16 if hyp["head"] == "flatten" else 1)
    return nn.Sequential(
        block(3, w),
        block(w, 2 * w), nn.MaxPool2d(2), Residual(nn.Sequential(block(2 * w, 2 * w),
                                                                 block(2 * w, 2 * w))),
        block(2 * w, 4 * w), nn.MaxPool2d(2),
        block(4 * w, 8 * w), nn.MaxPool2d(2), Residual(nn.Sequential(block(8 * w, 8 * w),
                                                                     block(8 * w, 8 * w))),
        head, Scale(hyp["logitScale"]),
        nn.Linear(features, NUM_CLASSES),
    )


def optimizer_for(model, net, hyp):
    """Keras's RMSprop (rho 0.9) for the MLP and Adam for the CNN, both with epsilon 1e-7;
    HYP.resnet9's SGD for ResNet-9, with weight decay on the conv and linear weights only."""
    if model == "mlp":
        return torch.optim.RMSprop(net.parameters(), lr=1e-3, alpha=0.9, eps=1e-7)
    if model == "cnn":
        return torch.optim.Adam(net.parameters(), lr=1e-3, eps=1e-7)
    sgd = hyp["optimizer"]
    kernels = [p for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))
               for name, p in m.named_parameters(recurse=False) if name == "weight"]
    rest = [p for p in net.parameters() if all(p is not k for k in kernels)]
    return torch.optim.SGD([{"params": kernels, "weight_decay": hyp["weightDecay"]},
                            {"params": rest, "weight_decay": 0.0}],
                           lr=sgd["learningRate"], momentum=sgd["momentum"],
                           nesterov=sgd["nesterov"])


def one_cycle_rate(hyp, progress):
    """lib/train/hyp.ts oneCycle at `progress` (0 to 1) of the run."""
    warm, peak = hyp["schedule"]["warmup"], hyp["optimizer"]["learningRate"]
    p = min(max(progress, 0.0), 1.0)
    return peak * p / warm if p < warm else peak * (1 - p) / (1 - warm)


def load_binary(path, limit=None):
    """Images (N, 3, 32, 32) float32 in 0-1 and fine labels (N,) from a CIFAR-100 binary file."""
    raw = np.fromfile(path, dtype=np.uint8).reshape(-1, RECORD_BYTES)
    if limit:
        raw = raw[:limit]
    images = torch.from_numpy(raw[:, 2:].reshape(-1, 3, 32, 32).astype(np.float32) / 255.0)
    return images, torch.from_numpy(raw[:, 1].astype(np.int64))


def parse_args():
    p = argparse.ArgumentParser(description="Time the source's MLP and CNN in PyTorch.")
    p.add_argument("--model", choices=["mlp", "cnn", "resnet9"], default="cnn")
    p.add_argument("--images", type=int, default=4096, help="random images, without --data")
    p.add_argument("--data", help="cifar-100-binary folder (train.bin, test.bin)")
    p.add_argument("--serve", action="store_true",
                   help="time one epoch per 'epoch' line on stdin (see the module doc)")
    p.add_argument("--limit-train", type=int, help="use the first N training images")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--resnet9", type=json.loads, help="HYP.resnet9 as JSON (lib/train/hyp.ts)")
    p.add_argument("--one-cycle", action="store_true",
                   help="ResNet-9's one-cycle learning rate over --epochs (else its peak, constant)")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    if a.model == "resnet9" and not a.resnet9:
        p.error("--model resnet9 needs --resnet9 JSON (HYP.resnet9)")
    return a


def main():
    a = parse_args()
    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    if a.data:
        x, y = load_binary(os.path.join(a.data, "train.bin"), a.limit_train)
        x_test, y_test = load_binary(os.path.join(a.data, "test.bin"))
    else:
        x, y = torch.rand(a.images, 3, 32, 32), torch.randint(0, NUM_CLASSES, (a.images,))
        x_test = y_test = None
    net = {"mlp": mlp, "cnn": cnn}[a.model]() if a.model != "resnet9" else resnet9(a.resnet9)
    opt = optimizer_for(a.model, net, a.resnet9)
    smoothing = a.resnet9["labelSmoothing"] if a.model == "resnet9" else 0.0
    loss_fn = nn.CrossEntropyLoss(label_smoothing=smoothing)
    steps = a.epochs * math.ceil(len(x) / a.batch_size)
    done = 0

    def epoch(shuffle=True):
        nonlocal done
        net.train()
        order = torch.randperm(len(x)) if shuffle else None
        for i in range(0, len(x), a.batch_size):
            if a.one_cycle:
                for group in opt.param_groups:
                    group["lr"] = one_cycle_rate(a.resnet9, done / steps)
            batch = order[i:i + a.batch_size] if shuffle else slice(i, i + a.batch_size)
            opt.zero_grad()
            loss_fn(net(x[batch]), y[batch]).backward()
            opt.step()
            done += 1

    header = {
        "engine": f"torch {torch.__version__} cpu",
        "threads": torch.get_num_threads(),
        "model": a.model,
        "train_images": len(x),
        # As Keras counts: the batch norms' moving statistics too (buffers here).
        "params": sum(p.numel() for p in net.parameters()) + sum(
            b.numel() for name, b in net.named_buffers() if name.endswith(("_mean", "_var"))),
        "trainable_params": sum(p.numel() for p in net.parameters()),
    }
    if a.serve:
        print(json.dumps({"ready": True, **header}), flush=True)
        for line in sys.stdin:
            if line.strip() == "quit":
                break
            start = time.perf_counter()
            epoch(shuffle=False)
            print(json.dumps({"seconds": time.perf_counter() - start}), flush=True)
        return

    if not a.data:
        epoch()  # warm-up, not timed
    seconds = []
    for _ in range(a.epochs):
        start = time.perf_counter()
        epoch()
        seconds.append(time.perf_counter() - start)
    out = {
        **header,
        "seconds_per_epoch": seconds,
        "train_images_per_second": len(x) / (sum(seconds) / len(seconds)),
    }
    if x_test is not None:
        net.eval()
        with torch.no_grad():
            logits = torch.cat([net(x_test[i:i + 1000]) for i in range(0, len(x_test), 1000)])
        out["test_accuracy"] = (logits.argmax(1) == y_test).float().mean().item()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
