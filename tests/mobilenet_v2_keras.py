"""Keras's side of tests/mobilenet_v2_test.ts: a MobileNetV2 base with random weights, its no-top
weights in the legacy layout of Keras Applications' downloads and in Keras 3's .weights.h5, and
its pooled features on random images (smooth waves).

Usage: python mobilenet_v2_keras.py OUT_DIR ALPHA SIZE COUNT SEED
Writes to OUT_DIR: mobilenet_v2_weights_tf_dim_ordering_tf_kernels_<ALPHA>_<SIZE>_no_top.h5,
keras3.weights.h5, images.u8 (COUNT x SIZE x SIZE x 3 RGB bytes), features.f32 and
predicted.f32 (COUNT x features, little-endian float32: the model called eagerly, and
predict()); prints one JSON line: versions, the features' scale, every layer's name and output
shape, and the parameter count of each alpha's base.
"""

import json
import sys

import h5py
import keras
import numpy as np
import tensorflow as tf
from keras.applications import mobilenet_v2
from keras.src.legacy.saving import legacy_h5_format

out, alpha, size, count, seed = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
keras.utils.set_random_seed(seed)
rng = np.random.default_rng(seed)


def base(weights):
    return mobilenet_v2.MobileNetV2(
        input_shape=(size, size, 3), alpha=alpha, include_top=False, weights=weights, pooling="avg"
    )


model = base(None)
# Pooled features of uniform noise hardly differ between images (they share their statistics):
# smooth random waves per channel, with a little noise, differ as photos do.
grid = np.arange(size, dtype="float64")[:, None] / size
waves = [
    127.5 + 100 * np.sin(2 * np.pi * (fy * grid + fx * grid.T) + phase)
    for fy, fx, phase in rng.uniform(0, 4, (count * 3, 3))
]
noise = rng.normal(0, 10, (count, size, size, 3))
images = np.clip(np.stack(waves, -1).reshape(size, size, count, 3).transpose(2, 0, 1, 3) + noise, 0, 255)
images = images.round().astype(np.uint8)
x = mobilenet_v2.preprocess_input(images.astype("float32"))
# Random weights that keep the features dependent on the image, as trained weights do. Kernels
# are drawn with variance 1 / fan-in (Keras's Glorot depthwise kernels shrink each output about C
# times); gamma and beta at random; then each moving mean and variance is set to its layer's batch
# statistics on these images (one training-mode pass at momentum 0), so no ReLU6 sits at 0 or 6
# for every image, and the four batch-norm weights all differ (a wrong order shows).
for layer in model.layers:
    if isinstance(layer, keras.layers.BatchNormalization):
        c = layer.gamma.shape[0]
        draws = [rng.uniform(0.5, 1.5, c), rng.normal(0, 0.2, c), np.zeros(c), np.ones(c)]
        layer.set_weights([d.astype("float32") for d in draws])
        layer.momentum = 0.0
    elif isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)):
        (kernel,) = layer.get_weights()
        kh, kw, inputs, _ = kernel.shape
        fan_in = kh * kw * (1 if isinstance(layer, keras.layers.DepthwiseConv2D) else inputs)
        layer.set_weights([rng.normal(0, fan_in**-0.5, kernel.shape).astype("float32")])
model(x, training=True)

# The layout of the released files: layer_names at the root, a group per layer with weight_names,
# written by Keras's own legacy writer (Keras 3's save_weights writes only the new layout).
legacy = f"{out}/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{alpha}_{size}_no_top.h5"
with h5py.File(legacy, "w") as f:
    legacy_h5_format.save_weights_to_hdf5_group(f, model)
model.save_weights(f"{out}/keras3.weights.h5")

# Called eagerly, Keras runs one TF op per layer operation, as tfjs does; predict() runs a traced
# graph that Grappler rewrites (its features differ in the last bits from the first residual add).
features = model(x, training=False).numpy()
predicted = model.predict(x, batch_size=count, verbose=0)
# Keras itself reads the legacy file back to the same features: the file is a faithful one.
reread = base(legacy).predict(x, batch_size=count, verbose=0)
assert np.array_equal(reread, predicted), "Keras does not read its legacy file back"

images.tofile(f"{out}/images.u8")
features.astype("<f4").tofile(f"{out}/features.f32")
predicted.astype("<f4").tofile(f"{out}/predicted.f32")
# Every alpha's parameter count, from Keras's own builder (shapes only, no weights).
params = {
    str(a): mobilenet_v2.MobileNetV2(
        input_shape=(96, 96, 3), alpha=a, include_top=False, weights=None
    ).count_params()
    for a in [0.35, 0.5, 0.75, 1.0, 1.3, 1.4]
}
print(json.dumps({
    "keras": keras.__version__,
    "tensorflow": tf.__version__,
    "scale": float(np.abs(features).max()),
    "layers": [[layer.name, list(layer.output.shape[1:])] for layer in model.layers],
    "params": params,
}))
