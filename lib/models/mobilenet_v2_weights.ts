/**
 * MobileNetV2's ImageNet weights from Keras's no-top files, found as VGG16's are (env
 * `MOBILENET_V2_WEIGHTS`). Keras publishes no checksum, so a file is accepted when its shapes
 * match; shapes tell the alpha, and Keras's file name the input size.
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
 * Find MobileNetV2's weights for `choice` (`resolveKerasWeights`, env MOBILENET_V2_WEIGHTS).
 *
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
 * Copy weights from a Keras MobileNetV2 no-top file into `base` by layer name; a file of another
 * alpha or size is refused, naming both, before anything is assigned.
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

/** The alpha all of whose layers' shapes `shapes` holds; undefined for a partial or foreign file. */
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
