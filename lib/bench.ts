/**
 * `deno task bench`: training throughput (images/s) of the MLP and the CNN on
 * the active backend, on synthetic data, printed as one JSON line.
 *
 * ```sh
 * deno task bench [--images N] [--models mlp,cnn] [--workers N] [--torch]
 * ```
 *
 * With `--torch`, ../shared/bench/torch_reference.py (PyTorch on the same
 * machine) runs right after each model with the same image count, and the
 * line gains the ratio of our images/s to PyTorch's: ratios measured side by
 * side, since absolute times drift on shared machines.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { initBackend, tf } from "./engine/backend.ts";
import { imageExamples } from "./data/examples.ts";
import { syntheticCifar100 } from "./data/synthetic.ts";
import { isUserError, UserError } from "./util/errors.ts";
import { buildCnn } from "./models/cnn.ts";
import { buildMlp } from "./models/mlp.ts";
import { fit } from "./train/fit.ts";
import { defaultWorkers, startWorkers } from "./train/parallel.ts";

const TORCH_REFERENCE = new URL("../../shared/bench/torch_reference.py", import.meta.url).pathname;

/**
 * Images/s of one timed epoch after one warm-up epoch (as the PyTorch reference does).
 * @param threads this thread plus threads-1 gradient workers.
 */
export async function benchModel(
  model: "mlp" | "cnn",
  images: number,
  threads = 1,
): Promise<number> {
  const backend = await initBackend();
  const workers = threads > 1
    ? await startWorkers(threads - 1, backend.name, { model, seed: 0 })
    : [];
  const data = syntheticCifar100({ seed: 0, trainCount: images, testCount: 1 });
  const net = model === "mlp" ? buildMlp() : buildCnn();
  const optimizer = model === "mlp"
    ? tf.train.rmsprop(1e-3, 0.9, 0, 1e-7)
    : tf.train.adam(1e-3, 0.9, 0.999, 1e-7);
  const result = await fit(net, imageExamples(data.train, data.train.fineLabels), {
    epochs: 2,
    batchSize: 128,
    optimizer,
    log: () => {},
    workers,
  }).finally(() => workers.forEach((w) => w.close()));
  net.dispose();
  optimizer.dispose();
  return images / result.secondsPerEpoch[1];
}

async function torchImagesPerSecond(model: string, images: number): Promise<number> {
  const python = "/usr/bin/python3";
  const out = await new Deno.Command(python, {
    args: [TORCH_REFERENCE, "--model", model, "--images", String(images)],
    stdout: "piped",
    stderr: "piped",
  }).output().catch((e) => {
    throw new UserError(`cannot run ${python} ${TORCH_REFERENCE}: ${e.message}`);
  });
  if (!out.success) {
    const err = new TextDecoder().decode(out.stderr).trim().split("\n").pop();
    throw new UserError(
      `${TORCH_REFERENCE} failed (${err}); install PyTorch: apt-get install -y python3-torch libopenblas0-pthread`,
    );
  }
  const lines = new TextDecoder().decode(out.stdout).trim().split("\n");
  return JSON.parse(lines[lines.length - 1]).train_images_per_second;
}

async function main(args: string[]): Promise<number> {
  try {
    const { values } = parseArgs({
      args,
      strict: true,
      options: {
        images: { type: "string", default: "4096" },
        models: { type: "string", default: "mlp,cnn" },
        torch: { type: "boolean", default: false },
        workers: { type: "string" },
      },
    });
    const images = Number(values.images);
    if (!Number.isInteger(images) || images < 128) {
      throw new UserError(`--images must be a whole number >= 128, got '${values.images}'`);
    }
    const models = values.models.split(",");
    for (const m of models) {
      if (m !== "mlp" && m !== "cnn") throw new UserError(`--models: unknown model '${m}'`);
    }
    const backend = await initBackend();
    const threads = values.workers === undefined
      ? defaultWorkers(backend.name)
      : Number(values.workers);
    if (!Number.isInteger(threads) || threads < 1) {
      throw new UserError(`--workers must be a whole number >= 1, got '${values.workers}'`);
    }
    const result: Record<string, unknown> = {
      backend: backend.name,
      threads,
      images,
      data: "synthetic",
    };
    for (const m of models as ("mlp" | "cnn")[]) {
      const ours = await benchModel(m, images, threads);
      result[`${m}_images_per_second`] = Math.round(ours);
      console.error(`${m}: ${ours.toFixed(0)} images/s on ${backend.name}, ${threads} thread(s)`);
      if (values.torch) {
        const torch = await torchImagesPerSecond(m, images);
        result[`${m}_torch_images_per_second`] = Math.round(torch);
        result[`${m}_ratio_to_torch`] = Number((ours / torch).toFixed(3));
        console.error(
          `${m}: ${torch.toFixed(0)} images/s with PyTorch (ratio ${(ours / torch).toFixed(2)})`,
        );
      }
    }
    console.log(JSON.stringify(result));
    return 0;
  } catch (e) {
    if (isUserError(e) || (e as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) {
      console.error(`error: ${(e as Error).message}`);
      return 2;
    }
    throw e;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
