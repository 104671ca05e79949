/**
 * MobileNetV2's ImageNet weights from Keras's own no-top files
 * (`mobilenet_v2_weights_tf_dim_ordering_tf_kernels_<alpha>_<rows>_no_top.h5`), found where
 * VGG16's are (./keras_weights.ts: `--weights PATH`, env `MOBILENET_V2_WEIGHTS`, Keras's cache,
 * this project's cache, a download from Keras Applications' URL) and loaded by layer name.
 *
 * Keras publishes no checksum for these files, so a file is accepted when every layer's shapes
 * match the model. Shapes tell the alpha, not the input size (the base is fully convolutional),
 * so a file of another alpha is named from its shapes and one of another size from its name,
 * which is Keras's.
 *
 * @module
 */
import { basename } from "node:path";
import { tf } from "../engine/backend.ts";
import { UserError } from "../util/errors.ts";
import {
  type KerasWeightsFile,
  loadKerasWeights,
  readWeightShapes,
  resolveKerasWeights,
  type ResolveWeightsOptions,
  type WeightsSource,
} from "./keras_weights.ts";
import {
  alphaName,
  MOBILENET_V2_ALPHAS,
  type MobileNetV2Options,
  mobilenetV2WeightsFile,
  mobilenetV2WeightShapes,
  mobilenetV2WeightsSize,
} from "./mobilenet_v2.ts";

/** Which base the weights are for: the model's alpha and input size. */
type MobileNetV2Choice = Pick<MobileNetV2Options, "alpha" | "inputSize">;

function weightsFile({ alpha, inputSize }: MobileNetV2Choice): KerasWeightsFile {
  const rows = mobilenetV2WeightsSize(inputSize);
  return {
    remote: mobilenetV2WeightsFile(alpha, inputSize),
    base: `MobileNetV2 alpha ${alphaName(alpha)} ${rows} px`,
    envVar: "MOBILENET_V2_WEIGHTS",
  };
}

/**
 * Find MobileNetV2's weights for `choice`, whose alpha and input size name the file
 * (keras_weights.ts `resolveKerasWeights`: `--weights PATH` or env MOBILENET_V2_WEIGHTS, Keras's
 * cache, this project's, a download; `none` for random weights).
 *
 * @throws {UserError} when an explicit path does not exist, or nothing is cached and the
 *   download fails: one line listing every place looked in, in order
 * @example
 * ```ts
 * const source = await resolveMobileNetV2Weights({ alpha: 1.0, inputSize: 224 }, { weights: "none" });
 * console.log(source.description); // random initial weights (--weights none), not ImageNet
 * ```
 */
export async function resolveMobileNetV2Weights(
  choice: MobileNetV2Choice,
  opts: ResolveWeightsOptions = {},
): Promise<WeightsSource> {
  return await resolveKerasWeights(weightsFile(choice), opts);
}

const KERAS_NAME = /^mobilenet_v2_weights_tf_dim_ordering_tf_kernels_([\d.]+)_(\d+)_no_top\.h5$/;

/**
 * Copy weights from a Keras MobileNetV2 no-top file into `base`, matching layers by name.
 *
 * Refused, in one line naming the file, before anything is assigned: a file whose shapes are
 * another alpha's (both alphas named), a file named as Keras names another size's weights (both
 * sizes named), a missing layer or dataset, any other wrong shape.
 *
 * @param base a model from `buildMobileNetV2Base` with `choice`'s alpha and input size
 */
export async function loadMobileNetV2Weights(
  base: tf.LayersModel,
  path: string,
  choice: MobileNetV2Choice,
): Promise<void> {
  const file = weightsFile(choice);
  const wanted = `the model is alpha ${alphaName(choice.alpha)}, ` +
    `${mobilenetV2WeightsSize(choice.inputSize)} px (${file.remote.fileName})`;
  const named = KERAS_NAME.exec(basename(path));
  if (named && Number(named[2]) !== mobilenetV2WeightsSize(choice.inputSize)) {
    throw new UserError(
      `${path} holds MobileNetV2 weights for ${named[2]} px, ${wanted}: ` +
        `use --input-size ${named[2]} or that file`,
    );
  }
  const fileAlpha = alphaOf(await readWeightShapes(path, file));
  if (fileAlpha !== undefined && fileAlpha !== choice.alpha) {
    throw new UserError(
      `${path} holds MobileNetV2 weights for alpha ${alphaName(fileAlpha)}, ${wanted}: ` +
        `use --alpha ${alphaName(fileAlpha)} or that file`,
    );
  }
  await loadKerasWeights(base, path, file);
}

/**
 * The alpha whose weight shapes `shapes` has: the one alpha all of whose layers the file holds
 * with the same shapes; undefined when none does (a partial or foreign file, which loading then
 * names precisely).
 */
function alphaOf(shapes: Map<string, number[][]>): number | undefined {
  const same = (a: number[][] | undefined, b: number[][]) =>
    a !== undefined && a.length === b.length &&
    a.every((s, i) => s.length === b[i].length && s.every((d, j) => d === b[i][j]));
  return MOBILENET_V2_ALPHAS.find((alpha) =>
    [...mobilenetV2WeightShapes(alpha)].every(([name, expected]) =>
      same(shapes.get(name), expected)
    )
  );
}
