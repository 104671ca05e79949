/**
 * Test helper: write Keras weights files (HDF5) with known values, in the layout of the released
 * `vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5` or of Keras 2's `save_weights`.
 *
 * @module
 */
import h5wasm from "h5wasm/node";

/** One weight of a layer: its shape and values (row-major, as h5py stores numpy arrays). */
export interface FixtureWeight {
  shape: number[];
  data: Float32Array;
  /** Its name in the layer (`gamma`, `moving_mean`); default `W`/`kernel` first, then `b`/`bias`. */
  name?: string;
}

/** One layer as listed in `layer_names`; layers without weights (input, pooling) have none. */
export interface FixtureLayer {
  name: string;
  weights: FixtureWeight[];
}

/** Options for {@linkcode writeKerasWeights}. */
export interface FixtureOptions {
  /**
   * `keras1` (default), like the released notop file: datasets `block1_conv1_W_1:0` and
   * `block1_conv1_b_1:0` directly in the layer group. `keras2`: `block1_conv1/kernel:0` and
   * `block1_conv1/bias:0` in a subgroup named like the layer.
   */
  style?: "keras1" | "keras2";
  /** Datasets to leave out (listed in weight_names but not written), e.g. `block1_conv1_b_1:0`. */
  omitDatasets?: string[];
  /** Leave the `layer_names` attribute out of the root. */
  omitLayerNames?: boolean;
}

const SHAPES: ReadonlyArray<[string, number, number]> = [
  ["block1_conv1", 3, 64],
  ["block1_conv2", 64, 64],
  ["block2_conv1", 64, 128],
  ["block2_conv2", 128, 128],
  ["block3_conv1", 128, 256],
  ["block3_conv2", 256, 256],
  ["block3_conv3", 256, 256],
  ["block4_conv1", 256, 512],
  ["block4_conv2", 512, 512],
  ["block4_conv3", 512, 512],
  ["block5_conv1", 512, 512],
  ["block5_conv2", 512, 512],
  ["block5_conv3", 512, 512],
];

/**
 * All layers of Keras's VGG16 notop file in its order (input_1, convolutions, poolings), with
 * full-size weights whose values come from `valueOf(layerIndex, weightIndex, flatIndex)`.
 */
export function vgg16NotopLayers(
  valueOf: (layer: number, weight: number, index: number) => number,
): FixtureLayer[] {
  const layers: FixtureLayer[] = [{ name: "input_1", weights: [] }];
  SHAPES.forEach(([name, inputs, filters], l) => {
    const kernel = fill([3, 3, inputs, filters], (i) => valueOf(l, 0, i));
    const bias = fill([filters], (i) => valueOf(l, 1, i));
    layers.push({ name, weights: [kernel, bias] });
    const block = name.slice(0, 6);
    const last = SHAPES[l + 1]?.[0].slice(0, 6) !== block;
    if (last) layers.push({ name: `${block}_pool`, weights: [] });
  });
  return layers;
}

/** A weight of `shape` whose flat element i is `valueOf(i)`. */
export function fill(shape: number[], valueOf: (i: number) => number): FixtureWeight {
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < data.length; i++) data[i] = valueOf(i);
  return { shape, data };
}

/** Write `layers` to `path` as a Keras HDF5 weights file. */
export async function writeKerasWeights(
  path: string,
  layers: FixtureLayer[],
  options: FixtureOptions = {},
): Promise<void> {
  await h5wasm.ready;
  const style = options.style ?? "keras1";
  const file = new h5wasm.File(path, "w");
  try {
    if (!options.omitLayerNames) writeStrings(file, "layer_names", layers.map((l) => l.name));
    file.create_attribute("backend", "tensorflow");
    file.create_attribute("keras_version", style === "keras1" ? "1.1.0" : "2.13.1");
    for (const layer of layers) {
      const group = file.create_group(layer.name);
      const names = layer.weights.map((w, i) =>
        style === "keras1"
          ? `${layer.name}_${w.name ?? (i === 0 ? "W" : "b")}_1:0`
          : `${layer.name}/${w.name ?? (i === 0 ? "kernel" : "bias")}:0`
      );
      if (names.length === 0) {
        // h5py saves an empty list as an empty float64 array.
        group.create_attribute("weight_names", new Float64Array(0), [0], "<d");
        continue;
      }
      writeStrings(group, "weight_names", names);
      const holder = style === "keras1" ? group : group.create_group(layer.name);
      layer.weights.forEach((w, i) => {
        const datasetName = names[i].split("/").at(-1)!;
        if (options.omitDatasets?.includes(datasetName)) return;
        holder.create_dataset({ name: datasetName, data: w.data, shape: w.shape, dtype: "<f" });
      });
    }
  } finally {
    file.close();
  }
}

/** Fixed-length byte strings, as h5py writes a numpy array of `bytes`. */
function writeStrings(group: InstanceType<typeof h5wasm.Group>, name: string, values: string[]) {
  const width = Math.max(1, ...values.map((v) => v.length));
  group.create_attribute(name, values, [values.length], `S${width}`);
}
