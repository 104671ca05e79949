/**
 * Notebook profiles: everything a profile decides, in one place.
 *
 * - `smoke`: a small synthetic stand-in for CIFAR-100, so every notebook runs
 *   offline in a minute or two on a 2-core machine (tests and the demo use it).
 * - `full`: the real CIFAR-100 and the source's 20 epochs, with ImageNet weights
 *   for VGG16, to reproduce the source.
 *
 * The profile comes from env CIFAR_PROFILE (default `full`). A model notebook's
 * training cell is one line:
 *
 * ```ts
 * const settings = profileSettings();
 * const record = await runExperiment({ ...settings.run("mlp") }, live);
 * ```
 *
 * @module
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { UserError } from "../util/errors.ts";
import {
  type ExperimentConfig,
  type ModelName,
  MODELS,
  readRunRecord,
  type RunRecord,
} from "./config.ts";

/** The notebook profiles. */
export const PROFILES = ["smoke", "full"] as const;
/** A profile name. */
export type ProfileName = typeof PROFILES[number];

/** Training and test images a model trains and is tested on (undefined = the whole split). */
export interface Subset {
  train?: number;
  test?: number;
}

/** Everything a profile decides. */
export interface ProfileSettings {
  /** The profile's name, recorded in every run record. */
  name: ProfileName;
  /** True when the profile trains on synthetic data. */
  synthetic: boolean;
  /** `"synthetic"`, or undefined for the real data lookup (CIFAR100_DATA, cache, download). */
  data: string | undefined;
  /** Seed for weights, shuffling, dropout and the synthetic data. */
  seed: number;
  /** Epochs per model. */
  epochs: number;
  /** Subsets per model. */
  subsets: Record<ModelName, Subset>;
  /** VGG16 weights: "none" (random) or undefined (ImageNet: VGG16_WEIGHTS, cache, download). */
  weights: string | undefined;
  /** Absolute folder for run records and models: `<repo>/runs/<profile>`. */
  out: string;
  /** The ExperimentConfig of one model's run in this profile. */
  run(model: ModelName): ExperimentConfig;
  /** Where the run record of one model is saved: `${out}/${model}/run.json`. */
  recordPath(model: ModelName): string;
}

const REPO_ROOT = fileURLToPath(new URL("../..", import.meta.url));

/**
 * The settings of a profile.
 *
 * @param name `smoke` or `full`; default env CIFAR_PROFILE, else `full`
 * @returns the profile's settings
 * @throws {UserError} for any other name
 * @example
 * ```ts
 * const settings = profileSettings("smoke");
 * settings.run("cnn"); // { model: "cnn", data: "synthetic", epochs: 2, limitTrain: 2000, ... }
 * ```
 */
export function profileSettings(
  name: string = Deno.env.get("CIFAR_PROFILE") || "full",
): ProfileSettings {
  if (!(PROFILES as readonly string[]).includes(name)) {
    throw new UserError(`CIFAR_PROFILE=${name} is not a profile: use smoke or full`);
  }
  const smoke = name === "smoke";
  const base = {
    name: name as ProfileName,
    synthetic: smoke,
    data: smoke ? "synthetic" : undefined,
    seed: 0,
    // The source trains every model for 20 epochs; two show the curves' shape in seconds.
    epochs: smoke ? 2 : 20,
    subsets: smoke
      ? {
        // Small enough for about a minute per notebook on 2 cores, big enough to beat chance.
        mlp: { train: 2000, test: 500 },
        cnn: { train: 2000, test: 500 },
        // Random-weight VGG16 feature extraction runs about 35 images/s on 2 cores.
        vgg16: { train: 512, test: 256 },
      }
      : { mlp: {}, cnn: {}, vgg16: {} },
    // Random weights keep the smoke profile offline; full uses the ImageNet weights.
    weights: smoke ? "none" : undefined,
    out: join(REPO_ROOT, "runs", name),
  };
  return {
    ...base,
    run(model: ModelName): ExperimentConfig {
      if (!MODELS.includes(model)) {
        throw new UserError(`unknown model '${model}': use one of ${MODELS.join(", ")}`);
      }
      const subset = base.subsets[model];
      return {
        model,
        epochs: base.epochs,
        data: base.data,
        limitTrain: subset.train,
        limitTest: subset.test,
        seed: base.seed,
        out: base.out,
        profile: base.name,
        ...(model === "vgg16" ? { weights: base.weights } : {}),
      };
    },
    recordPath: (model: ModelName) => join(base.out, model, "run.json"),
  };
}

/**
 * Read the saved run records of a profile, in the order given.
 *
 * @param settings the profile
 * @param models which models (default all, in reading order)
 * @returns one record per model
 * @throws {UserError} naming the missing record and the notebook that writes it, or a record
 *   saved by another profile
 */
export async function readProfileRecords(
  settings: ProfileSettings,
  models: readonly ModelName[] = MODELS,
): Promise<RunRecord[]> {
  const notebooks: Record<ModelName, string> = {
    mlp: "02_mlp.ipynb",
    cnn: "03_cnn.ipynb",
    vgg16: "04_vgg16.ipynb",
  };
  const records: RunRecord[] = [];
  for (const model of models) {
    const path = settings.recordPath(model);
    try {
      await Deno.stat(path);
    } catch {
      throw new UserError(
        `no run record at ${path}: execute notebooks/${notebooks[model]} ` +
          `with CIFAR_PROFILE=${settings.name} first`,
      );
    }
    const record = await readRunRecord(path);
    if (record.profile !== settings.name) {
      throw new UserError(
        `${path} was saved by profile '${record.profile}', not '${settings.name}': ` +
          `execute notebooks/${notebooks[model]} with CIFAR_PROFILE=${settings.name}`,
      );
    }
    records.push(record);
  }
  return records;
}
