#!/usr/bin/env python3
"""The source notebook's models, and ResNet-9, in Keras, timed on this machine: the anchor.

What it measures
    Builds the source notebook's MLP, CNN or VGG16 transfer model as its cells do, or the
    project's ResNet-9 (lib/models/resnet9.ts with HYP.resnet9, passed as JSON by --resnet9),
    in Keras 3 on TensorFlow CPU, compiles it with the source's settings and trains it on a
    cifar-100-binary folder with batch 128, without validation.
    The source's settings: the MLP with RMSprop and binary cross-entropy, the CNN with Adam and
    categorical cross-entropy, VGG16 (include_top=False, frozen, global average pooling, a
    Dense(100) head without activation) with Adam and categorical cross-entropy on 0-255 pixels.
    --fixed corrects what lib/ corrects: categorical cross-entropy for the MLP; caffe
    preprocessing and a softmax head for VGG16. ResNet-9: SGD with Nesterov momentum, label
    smoothing, L2 weight decay of the conv and dense kernels (kernel_regularizer L2(rate / 2),
    whose gradient is rate x the weight, as lib/train/step.ts adds it).

How `deno task bench --keras` calls it (lib/bench/reference.ts)
    Timing: <venv>/bin/python keras_reference.py --serve --model M --data DIR \\
                [--resnet9 JSON]
    It builds and compiles the model and loads the images once, prints one JSON line
    {"ready": true, "engine": ..., "params": P, "train_images": N}, then answers each line
    "epoch" on stdin with one epoch over the training images and one JSON line
    {"seconds": s} (the first request is the warm-up: it traces and builds the graph), until
    "quit" or the end of stdin. The images arrive in the order of our epoch's shuffle and are
    not shuffled here, so both sides train on the same batches. VGG16 times the model's
    forward pass (predict_on_batch over the batches), as our side times feature extraction.

    Feature extraction at a side S (VGG16 or MobileNetV2):
        ... --serve --model vgg16|mobilenetv2 --input-size S [--alpha A] --limit-train N \\
            --data DIR
    times keras.applications' base (weights=None, include_top=False, pooling="avg",
    input_shape=(S, S, 3); MobileNetV2 at width A) behind the work our side does per image:
    the 32-px image resized to S (bilinear, as tf.image.resize) and the application's
    preprocess_input, all inside the model, so that each predict_on_batch does all of it.

    Accuracy: <venv>/bin/python keras_reference.py --model resnet9 --resnet9 JSON \\
                  --data DIR --epochs E --one-cycle
    trains E epochs (the learning rate on HYP.resnet9's one-cycle schedule, step by step) and
    prints one JSON line last:
        {"engine": "keras 3.x tf 2.21.0 cpu", "threads": T, "model": M, "fixed": false,
         "train_images": N, "seconds_per_epoch": [s1, ...], "test_accuracy": a,
         "test_loss": l, "params": P}

Set-up
    bench.ts makes the environment itself, once, under <cache>/bench/keras-venv with the
    tensorflow-cpu version of the native engine (TENSORFLOW_WHEEL in
    lib/engine/install/native.ts). By hand:
        python3 -m venv .venv-keras && .venv-keras/bin/pip install tensorflow-cpu==2.21.0
        .venv-keras/bin/python lib/bench/keras_reference.py --model cnn --data DIR --epochs 2

--precision bfloat16 trains (or runs the forward pass) under Keras's "mixed_bfloat16" policy:
bfloat16 compute, float32 variables, the last Dense layer (the softmax) in float32, as Keras's
mixed-precision guide says; `deno task bench --precision bfloat16` passes it.

Other flags: --weights H5 (VGG16 notop weights in Keras's layout; random otherwise),
--threads N (TensorFlow's intra- and inter-op threads; default all cores), --seed N,
--limit-train N, --limit-test N, --val (validate inside each epoch, as the source did).
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np

BATCH_SIZE = 128  # the source's batch_size
NUM_CLASSES = 100
RECORD_BYTES = 2 + 32 * 32 * 3  # coarse label, fine label, 3 planes of 32x32


def parse_args():
    p = argparse.ArgumentParser(description="Time the source notebook's Keras models.")
    p.add_argument("--model", choices=["mlp", "cnn", "vgg16", "resnet9", "mobilenetv2"],
                   required=True)
    p.add_argument("--data", required=True, help="cifar-100-binary folder (train.bin, test.bin)")
    p.add_argument("--serve", action="store_true",
                   help="time one epoch per 'epoch' line on stdin (see the module doc)")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--limit-train", type=int, help="use the first N training images")
    p.add_argument("--limit-test", type=int, help="use the first N test images")
    p.add_argument("--fixed", action="store_true",
                   help="categorical cross-entropy for the MLP; caffe preprocessing and a softmax "
                        "head for VGG16")
    p.add_argument("--resnet9", type=json.loads, help="HYP.resnet9 as JSON (lib/train/hyp.ts)")
    p.add_argument("--one-cycle", action="store_true",
                   help="ResNet-9's one-cycle learning rate over --epochs (else its peak, constant)")
    p.add_argument("--weights", help="VGG16 notop .h5 (Keras layout)")
    p.add_argument("--input-size", type=int,
                   help="VGG16 or MobileNetV2 feature extraction at this side (--serve only)")
    p.add_argument("--alpha", type=float, default=1.0, help="MobileNetV2's width multiplier")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--precision", choices=["float32", "bfloat16"], default="float32",
                   help='bfloat16: Keras\'s "mixed_bfloat16" policy (see the module doc)')
    p.add_argument("--val", action="store_true",
                   help="validate after each epoch inside the timed epoch, as the source did")
    a = p.parse_args()
    if a.model == "resnet9" and not a.resnet9:
        p.error("--model resnet9 needs --resnet9 JSON (HYP.resnet9)")
    if a.model == "mobilenetv2" and a.input_size is None:
        p.error("--model mobilenetv2 needs --input-size S")
    if a.input_size is not None and (a.model not in ("vgg16", "mobilenetv2") or not a.serve):
        p.error("--input-size is for --serve with --model vgg16 or mobilenetv2")
    return a


def load_binary(path, limit):
    """Images (N, 32, 32, 3) uint8 and fine labels (N,) from a CIFAR-100 binary file."""
    raw = np.fromfile(path, dtype=np.uint8).reshape(-1, RECORD_BYTES)[:limit]
    images = raw[:, 2:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return images, raw[:, 1].astype(np.int64)


def resnet9(hyp):
    """lib/models/resnet9.ts: conv-BN-ReLU blocks of widths w, 2w, 4w, 8w with max pools and two
    residuals, the 4x4 map flattened (or max-pooled), scaled, Dense(100, softmax)."""
    import keras
    from keras import layers

    decay = keras.regularizers.L2(hyp["weightDecay"] / 2)
    norm = hyp["batchNorm"]

    def block(x, filters):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False,
                          kernel_initializer="he_normal", kernel_regularizer=decay)(x)
        x = layers.BatchNormalization(momentum=norm["momentum"], epsilon=norm["epsilon"])(x)
        return layers.ReLU()(x)

    def residual(x, filters):
        return layers.Add()([x, block(block(x, filters), filters)])

    w = hyp["width"]
    inputs = keras.Input((32, 32, 3))
    x = block(inputs, w)
    x = residual(layers.MaxPooling2D(2)(block(x, 2 * w)), 2 * w)
    x = layers.MaxPooling2D(2)(block(x, 4 * w))
    x = residual(layers.MaxPooling2D(2)(block(x, 8 * w)), 8 * w)
    x = layers.Flatten()(x) if hyp["head"] == "flatten" else layers.GlobalMaxPooling2D()(x)
    x = layers.Rescaling(hyp["logitScale"])(x)
    outputs = layers.Dense(NUM_CLASSES, activation="softmax", kernel_regularizer=decay,
                           dtype="float32")(x)
    return keras.Model(inputs, outputs, name="resnet9")


def one_cycle(hyp, steps):
    """HYP.resnet9's schedule (lib/train/hyp.ts oneCycle): 0 -> peak over the warm-up fraction
    of the steps, then -> 0 at the end, linear, evaluated at step / steps of the run."""
    import keras

    class OneCycle(keras.optimizers.schedules.LearningRateSchedule):
        def __call__(self, step):
            p = keras.ops.minimum(keras.ops.cast(step, "float32") / steps, 1.0)
            warm, peak = hyp["schedule"]["warmup"], hyp["optimizer"]["learningRate"]
            return keras.ops.where(p < warm, peak * p / warm, peak * (1 - p) / (1 - warm))

    return OneCycle()


def feature_extractor(a):
    """Feature extraction as our side runs it: 32-px images (0-255) resized to --input-size,
    the application's preprocess_input, its base with global average pooling."""
    import keras
    from keras import Input, Model, layers

    side = a.input_size
    if a.model == "vgg16":
        from keras.applications.vgg16 import VGG16 as application, preprocess_input
        options = {}
    else:
        from keras.applications.mobilenet_v2 import MobileNetV2 as application, preprocess_input
        options = {"alpha": a.alpha}
    base = application(weights=None, include_top=False, pooling="avg",
                       input_shape=(side, side, 3), **options)
    inputs = Input((32, 32, 3))
    x = inputs if side == 32 else layers.Resizing(side, side, interpolation="bilinear")(inputs)
    return Model(inputs, base(preprocess_input(x), training=False))


def build(a, steps):
    """The model and compile settings; (model, pixel scale) where the scale is what the 0-1
    inputs are multiplied by (VGG16 gets 0-255, as the source's cell 11 did). `steps` is the
    run's step count, for ResNet-9's one-cycle schedule."""
    import keras
    if a.input_size is not None:
        return feature_extractor(a), 255.0
    from keras import Input, Model
    from keras.layers import (Conv2D, Dense, Dropout, Flatten, GlobalAveragePooling2D,
                              MaxPooling2D)

    if a.model == "resnet9":
        hyp = a.resnet9
        net = resnet9(hyp)
        sgd = hyp["optimizer"]
        rate = one_cycle(hyp, steps) if a.one_cycle else sgd["learningRate"]
        net.compile(
            loss=keras.losses.CategoricalCrossentropy(label_smoothing=hyp["labelSmoothing"]),
            optimizer=keras.optimizers.SGD(rate, momentum=sgd["momentum"],
                                           nesterov=sgd["nesterov"]),
            metrics=["accuracy"])
        return net, 1.0
    if a.model == "mlp":
        net = keras.Sequential([
            Input((32, 32, 3)), Flatten(),
            Dense(512, activation="relu"), Dropout(0.2),
            Dense(512, activation="relu"), Dropout(0.2),
            Dense(NUM_CLASSES, activation="softmax", dtype="float32"),
        ])
        loss = "categorical_crossentropy" if a.fixed else "binary_crossentropy"
        net.compile(loss=loss, optimizer=keras.optimizers.RMSprop(), metrics=["accuracy"])
        return net, 1.0
    if a.model == "cnn":
        net = keras.Sequential([
            Input((32, 32, 3)),
            Conv2D(32, 3, activation="relu"), MaxPooling2D(2),
            Conv2D(64, 3, activation="relu"), MaxPooling2D(2),
            Flatten(), Dropout(0.5),
            Dense(NUM_CLASSES, activation="softmax", dtype="float32"),
        ])
        net.compile(loss="categorical_crossentropy", optimizer=keras.optimizers.Adam(),
                    metrics=["accuracy"])
        return net, 1.0
    from keras.applications import VGG16
    from keras.applications.vgg16 import preprocess_input

    base = VGG16(weights=None, input_shape=(32, 32, 3), include_top=False)
    if a.weights:
        base.load_weights(a.weights)
    base.trainable = False
    inputs = Input((32, 32, 3))
    x = preprocess_input(inputs) if a.fixed else inputs
    x = GlobalAveragePooling2D()(base(x, training=False))
    outputs = Dense(NUM_CLASSES, activation="softmax" if a.fixed else None, dtype="float32")(x)
    net = Model(inputs, outputs)
    net.compile(loss="categorical_crossentropy", optimizer=keras.optimizers.Adam(),
                metrics=["accuracy"])
    return net, 255.0


def serve(net, model, x, y, header):
    """Answer each 'epoch' line on stdin with one timed epoch over (x, y) in its order."""
    import tensorflow as tf

    # Made once, float32 and batched in order: each epoch then only iterates it, as our side
    # only gathers its batches (no per-epoch copy of the whole array, no shuffle buffer).
    batches = tf.data.Dataset.from_tensor_slices((x, y)).batch(BATCH_SIZE).cache()
    # Without autotune: otherwise each fit's old iterator, dropped at the next epoch's start,
    # waits for tf.data's autotune thread to wake, adding up to seconds to Keras's epoch.
    options = tf.data.Options()
    options.autotune.enabled = False
    batches = batches.with_options(options)
    forward = [tf.constant(x[i:i + BATCH_SIZE]) for i in range(0, len(x), BATCH_SIZE)]

    def epoch():
        if model in ("vgg16", "mobilenetv2"):
            for batch in forward:
                net.predict_on_batch(batch)
        else:
            net.fit(batches, epochs=1, verbose=0)

    print(json.dumps({"ready": True, **header}), flush=True)
    for line in sys.stdin:
        if line.strip() == "quit":
            break
        start = time.perf_counter()
        epoch()
        print(json.dumps({"seconds": time.perf_counter() - start}), flush=True)


def main():
    a = parse_args()
    # TensorFlow's thread pools are fixed at its first op: set them before Keras starts.
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(a.threads)
    tf.config.threading.set_inter_op_parallelism_threads(a.threads)
    import keras
    keras.utils.set_random_seed(a.seed)
    if a.precision == "bfloat16":
        # Before the model is built: each layer takes the global policy when it is made.
        keras.mixed_precision.set_global_policy("mixed_bfloat16")

    x_train, y_train = load_binary(os.path.join(a.data, "train.bin"), a.limit_train)
    x_test, y_test = load_binary(os.path.join(a.data, "test.bin"), a.limit_test)
    y_train = keras.utils.to_categorical(y_train, NUM_CLASSES)
    y_test = keras.utils.to_categorical(y_test, NUM_CLASSES)
    net, scale = build(a, a.epochs * math.ceil(len(x_train) / BATCH_SIZE))
    # 0-1 pixels (0-255 for VGG16, as the source's cell 11) in float32, the dtype the model
    # computes in: the source's float64 arrays only add a conversion per batch.
    x_train = (x_train / 255.0 * scale).astype(np.float32)
    x_test = (x_test / 255.0 * scale).astype(np.float32)
    header = {
        "engine": f"keras {keras.__version__} tf {tf.__version__} cpu",
        "threads": a.threads,
        "model": a.model,
        "fixed": a.fixed,
        "precision": keras.mixed_precision.global_policy().name,
        "train_images": len(x_train),
        "params": net.count_params(),
        "trainable_params": int(sum(np.prod(w.shape) for w in net.trainable_weights)),
    }
    if a.serve:
        serve(net, a.model, x_train, y_train, header)
        return

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
        **header,
        "seconds_per_epoch": seconds,
        "train_images_per_second": len(x_train) / (sum(seconds) / len(seconds)),
        "test_accuracy": accuracy,
        "test_loss": loss,
    }))


if __name__ == "__main__":
    main()
