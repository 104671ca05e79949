/**
 * A model's summary and parameter counts, as Keras prints and reports them.
 *
 * @module
 */
import type { tf } from "../engine/backend.ts";

/** The model's summary as Keras prints it (layer, output shape, params; totals). */
export function summary(model: tf.LayersModel): string {
  const lines: string[] = [];
  model.summary(98, undefined, (line?: string) => lines.push(line ?? ""));
  // Keras prints totals with thousands separators.
  return lines.map((l) =>
    l.replace(/(params: )(\d+)/, (_, p, n) => p + Number(n).toLocaleString("en-US"))
  )
    .join("\n");
}

/** Parameter counts, as Keras reports them. */
export function countParams(model: tf.LayersModel): {
  total: number;
  trainable: number;
  nonTrainable: number;
} {
  const count = (ws: tf.LayerVariable[]) =>
    ws.reduce((n, w) => n + w.shape.reduce((a: number, b) => a * (b ?? 1), 1), 0);
  const trainable = count(model.trainableWeights);
  const nonTrainable = count(model.nonTrainableWeights);
  return { total: trainable + nonTrainable, trainable, nonTrainable };
}
