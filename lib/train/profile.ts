/**
 * Notebook profiles: the settings of a notebook's runs, from {@linkcode NOTEBOOK_PROFILES} (env
 * CIFAR_PROFILE, default `full`) and env `CIFAR_EPOCHS`, `CIFAR_LIMIT_TRAIN` and
 * `CIFAR_LIMIT_TEST`, which override its budget for every model (each run record lists them).
 *
 * ```ts
 * import assert from "node:assert/strict";
 * import { runExperiment } from "./experiment.ts";
 * // A notebook calls profileSettings(): CIFAR_PROFILE and the budget variables from the env.
 * const env: Record<string, string> = { CIFAR_EPOCHS: "1", CIFAR_LIMIT_TRAIN: "256" };
 * const settings = profileSettings("smoke", budgetFromEnv((name) => env[name]));
 * // out: null saves nothing (a notebook saves to settings.out); the log goes nowhere.
 * const record = await runExperiment({ ...settings.run("mlp"), out: null }, { log: () => {} });
 * assert.equal(record.profile, "smoke");
 * assert.equal(record.train_images, 256);
 * assert.deepEqual(record.budget_overrides, ["CIFAR_EPOCHS=1", "CIFAR_LIMIT_TRAIN=256"]);
 * ```
 *
 * @module
 */
import { join } from "node:path";
import { UserError } from "../util/errors.ts";
import { PROJECT_ROOT, statOrUndefined } from "../util/paths.ts";
import { exists } from "../util/process.ts";
import { loadCifar100, type LoadOptions } from "../data/cifar100.ts";
import type { Cifar100 } from "../data/dataset.ts";
import {
  DEFAULT_OUT,
  isBackbone,
  type ModelName,
  MODELS,
  NOTEBOOK_PROFILES,
  type NotebookProfile,
} from "./hyp.ts";
import type { ExperimentConfig } from "./experiment_config.ts";
import { readHeldOut } from "./held_out.ts";
import { readRunRecord, type RunRecord } from "./run_record.ts";

/** A profile name. */
export type ProfileName = keyof typeof NOTEBOOK_PROFILES;
const PROFILES = Object.keys(NOTEBOOK_PROFILES) as readonly ProfileName[];

const BUDGET_VARIABLES = {
  epochs: "CIFAR_EPOCHS",
  train: "CIFAR_LIMIT_TRAIN",
  test: "CIFAR_LIMIT_TEST",
} as const;

interface BudgetOverride {
  epochs?: number;
  train?: number;
  test?: number;
  /** The variables that were set, as `NAME=value`. */
  variables: string[];
}

/**
 * Read the budget overrides from the environment, each a whole number >= 1; unset or empty
 * means the profile's number.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const env: Record<string, string> = { CIFAR_EPOCHS: "2" };
 * assert.deepEqual(budgetFromEnv((name) => env[name]), { epochs: 2, variables: ["CIFAR_EPOCHS=2"] });
 * ```
 */
export function budgetFromEnv(
  get: (name: string) => string | undefined = (name) => Deno.env.get(name),
): BudgetOverride {
  const budget: BudgetOverride = { variables: [] };
  for (const key of ["epochs", "train", "test"] as const) {
    const name = BUDGET_VARIABLES[key];
    const raw = get(name)?.trim();
    if (!raw) continue;
    const value = Number(raw);
    if (!/^\d+$/.test(raw) || !Number.isSafeInteger(value) || value < 1) {
      throw new UserError(
        `${name} must be a whole number >= 1, got '${raw}' (unset it to use the profile's ${
          key === "epochs" ? "epochs" : `${key === "train" ? "training" : "test"} images`
        })`,
      );
    }
    budget[key] = value;
    budget.variables.push(`${name}=${value}`);
  }
  return budget;
}

/** Everything a profile decides. */
export interface ProfileSettings {
  name: ProfileName;
  synthetic: boolean;
  seed: number;
  /** Epochs of the source's models (ResNet-9's: `run("resnet9").epochs`). */
  epochs: number;
  /** Load options of notebook 01, which shows the data: limits only where env variables set them. */
  load: Pick<LoadOptions, "data" | "seed" | "limitTrain" | "limitTest">;
  /** `<repo>/runs/<profile>`. */
  out: string;
  run(model: ModelName): ExperimentConfig;
  /** `${out}/${model}/run.json`. */
  recordPath(model: ModelName): string;
}

/**
 * The settings of a profile (default env CIFAR_PROFILE, else `full`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const settings = profileSettings("smoke", { variables: [] }); // no budget overrides
 * const { model, data, epochs, limitTrain, weights } = settings.run("cnn");
 * assert.deepEqual({ model, data, epochs, limitTrain, weights }, {
 *   model: "cnn", data: "synthetic", epochs: 2, limitTrain: 2000, weights: undefined,
 * });
 * assert.equal(settings.run("vgg16").weights, "none"); // random VGG16 weights: offline
 * ```
 */
export function profileSettings(
  name: string = Deno.env.get("CIFAR_PROFILE") || "full",
  budget: BudgetOverride = budgetFromEnv(),
): ProfileSettings {
  if (!(PROFILES as readonly string[]).includes(name)) {
    throw new UserError(`CIFAR_PROFILE=${name} is not a profile: use smoke or full`);
  }
  const profileName = name as ProfileName;
  const table: NotebookProfile = NOTEBOOK_PROFILES[profileName];
  const out = join(PROJECT_ROOT, DEFAULT_OUT, name);
  return {
    name: profileName,
    synthetic: table.data === "synthetic",
    seed: table.seed,
    // The source's three models share their epochs; ResNet-9's are its own (run()).
    epochs: budget.epochs ?? table.epochs.mlp,
    load: {
      data: table.data,
      seed: table.seed,
      limitTrain: budget.train,
      limitTest: budget.test,
    },
    out,
    run(model: ModelName): ExperimentConfig {
      if (!MODELS.includes(model)) {
        throw new UserError(`unknown model '${model}': use one of ${MODELS.join(", ")}`);
      }
      return {
        model,
        epochs: budget.epochs ?? table.epochs[model],
        data: table.data,
        limitTrain: budget.train ?? table.subsets[model].train,
        limitTest: budget.test ?? table.subsets[model].test,
        seed: table.seed,
        out,
        profile: profileName,
        ...(budget.variables.length ? { budgetOverrides: [...budget.variables] } : {}),
        ...(isBackbone(model) ? { weights: table.weights } : {}),
      };
    },
    recordPath: (model: ModelName) => join(out, model, "run.json"),
  };
}

/** Record fields the comparison notebook reads that older records lack. */
const RECENT_FIELDS = ["official_data", "budget_overrides", "test_confidences"] as const;

/** The source's models, which the comparison notebook (05) needs records of. */
const SOURCE_MODELS = ["mlp", "cnn", "vgg16"] as const satisfies readonly ModelName[];

/** The notebook that trains each model and saves its record. */
export const MODEL_NOTEBOOKS: Record<ModelName, string> = {
  mlp: "02_mlp.ipynb",
  cnn: "03_cnn.ipynb",
  vgg16: "04_vgg16.ipynb",
  resnet9: "06_beyond.ipynb",
  mobilenetv2: "04_vgg16.ipynb",
};

/**
 * Read the saved run records of a profile (default the source's three models).
 *
 * @throws {UserError} naming a missing, older or other profile's record and the notebook to run
 */
export async function readProfileRecords(
  settings: ProfileSettings,
  models: readonly ModelName[] = SOURCE_MODELS,
): Promise<RunRecord[]> {
  const records: RunRecord[] = [];
  for (const model of models) {
    const path = settings.recordPath(model);
    const again = `execute notebooks/${MODEL_NOTEBOOKS[model]} with CIFAR_PROFILE=${settings.name}`;
    if (!(await exists(path))) throw new UserError(`no run record at ${path}: ${again} first`);
    const record = await readRunRecord(path);
    if (record.profile !== settings.name) {
      throw new UserError(
        `${path} was saved by profile '${record.profile}', not '${settings.name}': ${again}`,
      );
    }
    const fields = isBackbone(model) ? [...RECENT_FIELDS, "weights_kind"] : RECENT_FIELDS;
    const missing = fields.filter((field) => !(field in record));
    if (missing.length > 0) {
      throw new UserError(`${path} has no ${missing.join(", ")} (an older record): ${again}`);
    }
    records.push(record);
  }
  return records;
}

/** The saved run record of `model` in this profile when its notebook has run, else undefined. */
export async function readProfileRecordIfPresent(
  settings: ProfileSettings,
  model: ModelName,
): Promise<RunRecord | undefined> {
  if (!(await statOrUndefined(settings.recordPath(model)))) return undefined;
  return (await readProfileRecords(settings, [model]))[0];
}

/**
 * Load again the test images a run was evaluated on, in its order (no training images); the
 * labels are checked against the record's.
 *
 * @param options more load options (tests: `expectedCounts` of a small fixture)
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { runExperiment } from "./experiment.ts";
 * const record = await runExperiment(
 *   { model: "mlp", data: "synthetic", epochs: 1, limitTrain: 256, limitTest: 64, out: null },
 *   { log: () => {}, summary: false },
 * );
 * const data = await runTestImages(record);
 * // record.test_images images, image i is the one of record.test_predictions[i]
 * assert.equal(data.test.count, record.test_images);
 * assert.deepEqual(Array.from(data.test.fineLabels), record.test_labels);
 * ```
 */
export async function runTestImages(
  record: RunRecord,
  options: Omit<LoadOptions, "data" | "seed" | "limitTrain" | "limitTest"> = {},
): Promise<Cifar100> {
  if (record.data.held_out) return await readHeldOut(record);
  const data = record.synthetic ? "synthetic" : record.data.path;
  if (data === undefined) {
    throw new UserError(`the ${record.model} run's record names no data path to load again`);
  }
  const dataset = await loadCifar100({
    ...options,
    data,
    seed: record.seed,
    limitTrain: 0,
    limitTest: record.test_images,
  });
  const labels = dataset.test.fineLabels;
  const same = labels.length === record.test_labels.length &&
    record.test_labels.every((label, i) => labels[i] === label);
  if (!same) {
    throw new UserError(
      `the test images of ${dataset.source.description} are not the ones the ${record.model} ` +
        `run was tested on (their labels differ): train it again on this data`,
    );
  }
  return dataset;
}
