/**
 * Our own throughput on the active engine, as `deno task bench` reports it: images/s of a warm
 * training epoch of the MLP or the CNN, or of VGG16's frozen base's forward pass (feature
 * extraction) at 32 px, on synthetic CIFAR-100 images (seed 0).
 *
 * @module
 */
import { IMAGE_BYTES } from "../data/dataset.ts";
import { imageExamples } from "../data/examples.ts";
import { syntheticCifar100 } from "../data/synthetic.ts";
import { initBackend } from "../engine/backend.ts";
import { buildCnn } from "../models/cnn.ts";
import { buildMlp } from "../models/mlp.ts";
import { buildVgg16Base } from "../models/vgg16.ts";
import { HYP } from "../train/hyp.ts";
import { extractFeatures } from "../train/features.ts";
import { fit } from "../train/fit.ts";
import { makeOptimizer } from "../train/optimizer.ts";
import { startWorkers } from "../train/parallel.ts";

/** What can be benchmarked. */
export const BENCH_MODELS = ["mlp", "cnn", "vgg16"] as const;
/** A benchmarked model. */
export type BenchModel = typeof BENCH_MODELS[number];

/**
 * Our images/s: for mlp and cnn the second of two training epochs over `images` synthetic
 * images; for vgg16 the frozen base's forward pass (feature extraction) at 32 px.
 *
 * @param threads this thread plus threads-1 workers (single-threaded engines).
 */
export async function benchOurs(model: BenchModel, images: number, threads = 1): Promise<number> {
  const backend = await initBackend();
  const data = syntheticCifar100({ seed: 0, trainCount: images, testCount: 1 });
  const workerCount = threads - 1;
  if (model === "vgg16") {
    return await featureThroughput(data.train.images, backend.name, workerCount);
  }
  const workers = workerCount > 0
    ? await startWorkers(workerCount, backend.name, { model, seed: 0, numClasses: 100 })
    : [];
  const net = model === "mlp" ? buildMlp({ seed: 0 }) : buildCnn({ seed: 0 });
  const optimizer = makeOptimizer(HYP[model].optimizer);
  try {
    const result = await fit(net, imageExamples(data.train, data.train.fineLabels), {
      epochs: 2,
      batchSize: HYP[model].batchSize,
      optimizer,
      log: () => {},
      workers,
    });
    return images / result.secondsPerEpoch[1];
  } finally {
    workers.forEach((w) => w.close());
    net.dispose();
    optimizer.dispose();
  }
}

/** Images/s of VGG16's frozen base (random weights, 32 px) over `images`, after a warm-up. */
async function featureThroughput(
  images: Uint8Array,
  backendName: string,
  workerCount: number,
): Promise<number> {
  const base = buildVgg16Base(32, 0);
  const workers = workerCount > 0
    ? await startWorkers(workerCount, backendName, { model: "vgg16-base", inputSize: 32, seed: 0 })
    : [];
  try {
    // A warm-up pass over a few batches, then the timed pass.
    const warm = images.subarray(0, 3 * HYP.vgg16.featureBatchSize * IMAGE_BYTES);
    await extractFeatures(base, warm, { inputSize: 32, workers, progress: false });
    const timed = await extractFeatures(base, images, { inputSize: 32, workers, progress: false });
    return timed.imagesPerSecond;
  } finally {
    workers.forEach((w) => w.close());
    base.dispose();
  }
}
