#!/usr/bin/env python3
"""The source's CNN training step in TensorFlow, eagerly and as one tf.function: what a whole
step as one TensorFlow graph gains over op-by-op dispatch on this machine.

What it measures
    One training step of the source notebook's CNN (conv 32, pool, conv 64, pool, dropout 0.5,
    dense 100; softmax cross-entropy; Adam as ResourceApplyAdam) on one fixed random batch,
    written once with raw TensorFlow ops and run three ways: eagerly, one op at a time, as
    tfjs-node runs ours; as a tf.function, where Grappler and the oneDNN graph pass rewrite it,
    as Keras's compiled step is; and as a tf.function with XLA (jit_compile), which Keras 3
    leaves off on CPU. The sides alternate in rounds of 8 steps after 3 untimed steps each.

Run it in the bench's Keras environment (made by `deno task bench --keras`):
    ~/.cache/cifar100-ts/bench/keras-venv/bin/python lib/bench/eager_vs_function.py \\
        [--batch 128] [--rounds 15] [--sides eager,function,xla]

Output
    A line per side (median and minimum ms per step, and eager / side per round: median, min,
    max), then one JSON line {"batch": B, "rounds": R, "<side>": {"median_ms", "min_ms",
    "eager_over_this": [median, min, max]}}. Eager is always run: it is the baseline.
"""
import argparse
import json
import statistics
import time

import numpy as np
import tensorflow as tf

STEPS_PER_ROUND = 8


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--sides", default="eager,function,xla")
    args = parser.parse_args()
    unknown = set(args.sides.split(",")) - {"eager", "function", "xla"}
    if unknown or args.batch < 1 or args.rounds < 1:
        parser.error(f"--sides takes eager, function and xla, got {args.sides}; "
                     "--batch and --rounds must be >= 1")
    step = cnn_step(args.batch)
    runs = {"eager": step, "function": tf.function(step),
            "xla": tf.function(step, jit_compile=True)}
    sides = ["eager"] + [s for s in args.sides.split(",") if s != "eager"]
    times = {side: [] for side in sides}
    for side in sides:
        for _ in range(3):
            runs[side]().numpy()
    for _ in range(args.rounds):
        for side in sides:
            start = time.perf_counter()
            for _ in range(STEPS_PER_ROUND):
                loss = runs[side]()
            loss.numpy()
            times[side].append((time.perf_counter() - start) / STEPS_PER_ROUND * 1e3)
    result = {"batch": args.batch, "rounds": args.rounds}
    for side in sides:
        ratios = [e / t for e, t in zip(times["eager"], times[side])]
        summary = [statistics.median(ratios), min(ratios), max(ratios)]
        print(f"{side:9s} median {statistics.median(times[side]):6.2f} ms, "
              f"min {min(times[side]):6.2f}; eager / {side} {summary[0]:.2f} "
              f"({summary[1]:.2f}-{summary[2]:.2f})")
        result[side] = {"median_ms": round(statistics.median(times[side]), 2),
                        "min_ms": round(min(times[side]), 2),
                        "eager_over_this": [round(r, 2) for r in summary]}
    print(json.dumps(result))


def cnn_step(batch):
    """A step function of no arguments over a fixed random batch; it returns the loss."""
    rng = np.random.default_rng(0)
    x = tf.constant(rng.random((batch, 32, 32, 3), dtype=np.float32))
    y = tf.constant(rng.integers(0, 100, batch))
    shapes = [(3, 3, 3, 32), (32,), (3, 3, 32, 64), (64,), (6 * 6 * 64, 100), (100,)]
    weights = [tf.Variable(rng.standard_normal(s).astype(np.float32) * 0.05) for s in shapes]
    moments = [(tf.Variable(tf.zeros_like(w)), tf.Variable(tf.zeros_like(w))) for w in weights]

    def step():
        w = weights
        with tf.GradientTape() as tape:
            h = tf.nn.relu(tf.nn.bias_add(tf.nn.conv2d(x, w[0], 1, "VALID"), w[1]))
            h = tf.nn.max_pool2d(h, 2, 2, "VALID")
            h = tf.nn.relu(tf.nn.bias_add(tf.nn.conv2d(h, w[2], 1, "VALID"), w[3]))
            h = tf.nn.max_pool2d(h, 2, 2, "VALID")
            h = tf.nn.dropout(tf.reshape(h, (batch, -1)), 0.5, seed=1)
            logits = h @ w[4] + w[5]
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits))
        # Adam's power terms are fixed: the step's cost, not its arithmetic, is measured.
        for var, (m, v), grad in zip(w, moments, tape.gradient(loss, w)):
            tf.raw_ops.ResourceApplyAdam(
                var=var.handle, m=m.handle, v=v.handle, beta1_power=0.9, beta2_power=0.999,
                lr=1e-3, beta1=0.9, beta2=0.999, epsilon=1e-7, grad=grad)
        return loss

    return step


if __name__ == "__main__":
    main()
