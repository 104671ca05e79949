/**
 * Test helper: a MobileNetV2 no-top weights file (Keras 2 layout) whose features carry the
 * image: He-scaled random kernels and identity batch normalisation, so that a head trained on
 * its features answers with confidence (random Glorot kernels with unit variances shrink the
 * signal to nothing by the last block).
 *
 * @module
 */
import { mobilenetV2WeightShapes } from "../lib/models/mobilenet_v2.ts";
import { mulberry32 } from "../lib/util/random.ts";
import { fill, type FixtureLayer, writeKerasWeights } from "./vgg16_fixture.ts";

/** Batch normalisation's weights as Keras names them, in its order. */
export const BN_WEIGHTS = ["gamma", "beta", "moving_mean", "moving_variance"];

/** Write He-scaled MobileNetV2 weights of `alpha` to `path` (any input size loads them). */
export async function writeHeScaledMobileNetV2(path: string, alpha: number): Promise<void> {
  const random = mulberry32(3);
  const layers: FixtureLayer[] = [{ name: "input_1", weights: [] }];
  for (const [name, shapes] of mobilenetV2WeightShapes(alpha)) {
    if (shapes.length === 4) {
      const values = [1, 0, 0, 1];
      layers.push({
        name,
        weights: shapes.map((shape, w) => ({
          ...fill(shape, () => values[w]),
          name: BN_WEIGHTS[w],
        })),
      });
      continue;
    }
    const [h, w, inputs] = shapes[0];
    const depthwise = name.endsWith("depthwise");
    // Uniform with He's variance 2 / fan-in (a depthwise kernel sees one channel).
    const limit = Math.sqrt(6 / (h * w * (depthwise ? 1 : inputs)));
    layers.push({
      name,
      weights: [{
        ...fill(shapes[0], () => (random() * 2 - 1) * limit),
        name: depthwise ? "depthwise_kernel" : "kernel",
      }],
    });
  }
  await writeKerasWeights(path, layers, { style: "keras2" });
}
