#!/usr/bin/env python3
"""The source notebook's models in Keras, timed on this machine: the speed and accuracy anchor.

What it measures
    Builds the source notebook's MLP, CNN or VGG16 transfer model as its cells do (Keras 3 on
    TensorFlow CPU), compiles it with the source's settings, trains it on a cifar-100-binary
    folder with batch 128 and times every epoch (a Keras callback around each epoch; no
    validation inside the epoch unless --val), then evaluates once on the test images.
    The source's settings: the MLP with RMSprop and binary cross-entropy, the CNN with Adam and
    categorical cross-entropy, VGG16 (include_top=False, frozen, global average pooling, a
    Dense(100) head without activation) with Adam and categorical cross-entropy on 0-255 pixels.
    --fixed corrects what lib/ corrects: categorical cross-entropy for the MLP; caffe
    preprocessing and a softmax head for VGG16.

How `deno task bench --keras` calls it (lib/bench/reference.ts)
    <venv>/bin/python keras_reference.py --model mlp|cnn|vgg16 --data DIR --epochs 2 \\
        --limit-train N --limit-test 128
    DIR holds train.bin and test.bin in the CIFAR-100 binary layout (bench.ts writes its
    synthetic images there). bench.ts reads the last line of stdout, one JSON object:
        {"engine": "keras 3.x tf 2.21.0 cpu", "threads": T, "model": M, "fixed": false,
         "train_images": N, "seconds_per_epoch": [s1, s2], "train_images_per_second": mean,
         "warm_images_per_second": N / s2, "test_accuracy": a, "test_loss": l, "params": P}
    and takes N / seconds_per_epoch[-1] (the warm epoch) as Keras's images/s.

Set-up
    bench.ts makes the environment itself, once, under <cache>/bench/keras-venv with the
    tensorflow-cpu version of the native engine (TENSORFLOW_WHEEL in
    lib/engine/install/native.ts). By hand:
        python3 -m venv .venv-keras && .venv-keras/bin/pip install tensorflow-cpu==2.21.0
        .venv-keras/bin/python lib/bench/keras_reference.py --model cnn --data DIR --epochs 2

Other flags: --weights H5 (VGG16 notop weights in Keras's layout; random otherwise),
--threads N (TensorFlow's intra- and inter-op threads; default all cores), --seed N.
"""
import argparse
import json
import os
import time

import numpy as np

BATCH_SIZE = 128  # the source's batch_size
NUM_CLASSES = 100
RECORD_BYTES = 2 + 32 * 32 * 3  # coarse label, fine label, 3 planes of 32x32


def parse_args():
    p = argparse.ArgumentParser(description="Time the source notebook's Keras models.")
    p.add_argument("--model", choices=["mlp", "cnn", "vgg16"], required=True)
    p.add_argument("--data", required=True, help="cifar-100-binary folder (train.bin, test.bin)")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--limit-train", type=int, help="use the first N training images")
    p.add_argument("--limit-test", type=int, help="use the first N test images")
    p.add_argument("--fixed", action="store_true",
                   help="categorical cross-entropy for the MLP; caffe preprocessing and a softmax "
                        "head for VGG16")
    p.add_argument("--weights", help="VGG16 notop .h5 (Keras layout)")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--val", action="store_true",
                   help="validate after each epoch inside the timed epoch, as the source did")
    return p.parse_args()


def load_binary(path, limit):
    """Images (N, 32, 32, 3) uint8 and fine labels (N,) from a CIFAR-100 binary file."""
    raw = np.fromfile(path, dtype=np.uint8).reshape(-1, RECORD_BYTES)[:limit]
    images = raw[:, 2:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return images, raw[:, 1].astype(np.int64)


def build(model, fixed, weights):
    """The source's model and compile settings; (model, pixel scale) where the scale is what
    the 0-1 inputs are multiplied by (VGG16 gets 0-255, as the source's cell 11 did)."""
    import keras
    from keras import Input, Model
    from keras.layers import (Conv2D, Dense, Dropout, Flatten, GlobalAveragePooling2D,
                              MaxPooling2D)

    if model == "mlp":
        net = keras.Sequential([
            Input((32, 32, 3)), Flatten(),
            Dense(512, activation="relu"), Dropout(0.2),
            Dense(512, activation="relu"), Dropout(0.2),
            Dense(NUM_CLASSES, activation="softmax"),
        ])
        loss = "categorical_crossentropy" if fixed else "binary_crossentropy"
        net.compile(loss=loss, optimizer=keras.optimizers.RMSprop(), metrics=["accuracy"])
        return net, 1.0
    if model == "cnn":
        net = keras.Sequential([
            Input((32, 32, 3)),
            Conv2D(32, 3, activation="relu"), MaxPooling2D(2),
            Conv2D(64, 3, activation="relu"), MaxPooling2D(2),
            Flatten(), Dropout(0.5),
            Dense(NUM_CLASSES, activation="softmax"),
        ])
        net.compile(loss="categorical_crossentropy", optimizer=keras.optimizers.Adam(),
                    metrics=["accuracy"])
        return net, 1.0
    from keras.applications import VGG16
    from keras.applications.vgg16 import preprocess_input

    base = VGG16(weights=None, input_shape=(32, 32, 3), include_top=False)
    if weights:
        base.load_weights(weights)
    base.trainable = False
    inputs = Input((32, 32, 3))
    x = preprocess_input(inputs) if fixed else inputs
    x = GlobalAveragePooling2D()(base(x, training=False))
    outputs = Dense(NUM_CLASSES, activation="softmax" if fixed else None)(x)
    net = Model(inputs, outputs)
    net.compile(loss="categorical_crossentropy", optimizer=keras.optimizers.Adam(),
                metrics=["accuracy"])
    return net, 255.0


def main():
    a = parse_args()
    # TensorFlow's thread pools are fixed at its first op: set them before Keras starts.
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(a.threads)
    tf.config.threading.set_inter_op_parallelism_threads(a.threads)
    import keras
    keras.utils.set_random_seed(a.seed)

    x_train, y_train = load_binary(os.path.join(a.data, "train.bin"), a.limit_train)
    x_test, y_test = load_binary(os.path.join(a.data, "test.bin"), a.limit_test)
    y_train = keras.utils.to_categorical(y_train, NUM_CLASSES)
    y_test = keras.utils.to_categorical(y_test, NUM_CLASSES)
    net, scale = build(a.model, a.fixed, a.weights)
    # As the source's cell 1 (and cell 11 for VGG16): float64 pixels in 0-1 (or back to 0-255).
    x_train, x_test = x_train / 255.0 * scale, x_test / 255.0 * scale

    seconds = []

    class EpochTimer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            seconds.append(time.perf_counter() - self.start)

    net.fit(x_train, y_train, batch_size=BATCH_SIZE, epochs=a.epochs, verbose=0,
            validation_data=(x_test, y_test) if a.val else None, callbacks=[EpochTimer()])
    loss, accuracy = net.evaluate(x_test, y_test, verbose=0)
    print(json.dumps({
        "engine": f"keras {keras.__version__} tf {tf.__version__} cpu",
        "threads": a.threads,
        "model": a.model,
        "fixed": a.fixed,
        "train_images": len(x_train),
        "seconds_per_epoch": seconds,
        "train_images_per_second": len(x_train) / (sum(seconds) / len(seconds)),
        "warm_images_per_second": len(x_train) / seconds[-1],
        "test_accuracy": accuracy,
        "test_loss": loss,
        "params": net.count_params(),
    }))


if __name__ == "__main__":
    main()
