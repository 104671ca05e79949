#!/usr/bin/env python3
"""The source notebook's MLP and CNN in PyTorch (CPU): what a user might pick instead, timed.

What it measures
    Trains the MLP (3072-512-512-100, ReLU, dropout 0.2; RMSprop with Keras's defaults) or the
    CNN (conv 32 and 64 with 3x3 kernels, 2x2 max pooling, dropout 0.5, dense 100; Adam with
    Keras's defaults) with the same shapes, batch size and softmax cross-entropy as lib/ does,
    and times each training epoch (forward, backward, optimizer step over shuffled batches; no
    validation). With --data, the test images' accuracy is computed after training, untimed.

How `deno task bench --torch` calls it (lib/bench/reference.ts)
    <python> torch_reference.py --model mlp|cnn --data DIR --epochs 2 --limit-train N
    DIR holds train.bin and test.bin in the CIFAR-100 binary layout (bench.ts writes its
    synthetic images there). bench.ts reads the last line of stdout, one JSON object:
        {"engine": "torch 2.x cpu", "threads": T, "model": M, "train_images": N,
         "seconds_per_epoch": [s1, s2], "train_images_per_second": mean, "test_accuracy": a}
    and takes N / seconds_per_epoch[-1] (the warm epoch) as PyTorch's images/s. It runs with
    PyTorch from pip (<cache>/bench/torch-venv) and, when installed, Debian's python3-torch.
    Without --data it trains on --images random images and times epochs after one untimed one.

Set-up
    bench.ts makes the environment itself, once, under <cache>/bench/torch-venv. By hand:
        python3 -m venv .venv-torch && .venv-torch/bin/pip install "torch==2.13.0+cpu" numpy
        .venv-torch/bin/python lib/bench/torch_reference.py --model cnn --images 4096
    (+cpu builds are on PyTorch's own index: where pip only reaches PyPI, add
    --extra-index-url https://download.pytorch.org/whl/cpu. Debian's: apt-get install
    python3-torch.)

Other flags: --batch-size N (default 128), --threads N (torch.set_num_threads; default all
cores), --seed N.
"""
import argparse
import json
import os
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


def optimizer_for(model, net):
    """Keras's RMSprop (rho 0.9) for the MLP and Adam for the CNN, both with epsilon 1e-7."""
    if model == "mlp":
        return torch.optim.RMSprop(net.parameters(), lr=1e-3, alpha=0.9, eps=1e-7)
    return torch.optim.Adam(net.parameters(), lr=1e-3, eps=1e-7)


def load_binary(path, limit=None):
    """Images (N, 3, 32, 32) float32 in 0-1 and fine labels (N,) from a CIFAR-100 binary file."""
    raw = np.fromfile(path, dtype=np.uint8).reshape(-1, RECORD_BYTES)
    if limit:
        raw = raw[:limit]
    images = torch.from_numpy(raw[:, 2:].reshape(-1, 3, 32, 32).astype(np.float32) / 255.0)
    return images, torch.from_numpy(raw[:, 1].astype(np.int64))


def parse_args():
    p = argparse.ArgumentParser(description="Time the source's MLP and CNN in PyTorch.")
    p.add_argument("--model", choices=["mlp", "cnn"], default="cnn")
    p.add_argument("--images", type=int, default=4096, help="random images, without --data")
    p.add_argument("--data", help="cifar-100-binary folder (train.bin, test.bin)")
    p.add_argument("--limit-train", type=int, help="use the first N training images")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args()


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
    net = mlp() if a.model == "mlp" else cnn()
    opt = optimizer_for(a.model, net)
    loss_fn = nn.CrossEntropyLoss()

    def epoch():
        net.train()
        order = torch.randperm(len(x))
        for i in range(0, len(x), a.batch_size):
            batch = order[i:i + a.batch_size]
            opt.zero_grad()
            loss_fn(net(x[batch]), y[batch]).backward()
            opt.step()

    if not a.data:
        epoch()  # warm-up, not timed (bench.ts instead times the second of two epochs)
    seconds = []
    for _ in range(a.epochs):
        start = time.perf_counter()
        epoch()
        seconds.append(time.perf_counter() - start)
    out = {
        "engine": f"torch {torch.__version__} cpu",
        "threads": torch.get_num_threads(),
        "model": a.model,
        "train_images": len(x),
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
