/**
 * Progress bars for long work: a cli-progress bar on a terminal's stderr, silent elsewhere so
 * logs are not flooded with redraws (notebooks pass `onUpdate` to drive their own display).
 *
 * @module
 */
import cliProgress from "cli-progress";
import process from "node:process";

/** Extra values shown after the bar, e.g. `{ loss: "3.912" }`. */
export type ProgressInfo = Record<string, string | number>;

/** A running progress indicator. */
export interface Progress {
  /** Set the number of finished units (not an increment). */
  update(done: number, info?: ProgressInfo): void;
  /** Remove the bar; safe to call twice. */
  stop(): void;
}

/** Options for {@linkcode createProgress}. */
interface ProgressOptions {
  /** Units in all, e.g. batches or bytes. */
  total: number;
  label: string;
  /** Format units as bytes (MB) instead of counts. */
  bytes?: boolean;
  /** Called on every update, whatever the output is (used by notebooks). */
  onUpdate?: (done: number, total: number, info: ProgressInfo) => void;
  /** Force the terminal bar on or off; default: on when stderr is a terminal. */
  terminal?: boolean;
}

/**
 * Start a progress indicator.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const seen: number[] = [];
 * const bar = createProgress({ total: 3, label: "Epoch 1/20", onUpdate: (done) => seen.push(done) });
 * for (let i = 1; i <= 3; i++) bar.update(i, { loss: "4.01" });
 * bar.stop();
 * assert.deepEqual(seen, [1, 2, 3]);
 * ```
 */
export function createProgress(options: ProgressOptions): Progress {
  const { total, label, onUpdate } = options;
  const terminal = options.terminal ?? Deno.stderr.isTerminal();
  let bar: cliProgress.SingleBar | undefined;
  if (terminal) {
    const value = options.bytes ? "{mbDone}/{mbTotal} MB" : "{value}/{total}";
    bar = new cliProgress.SingleBar({
      format: `${label} [{bar}] ${value} {percentage}% eta {eta_formatted} {extra}`,
      stream: process.stderr,
      hideCursor: true,
      clearOnComplete: true,
      barsize: 30,
      etaBuffer: 50,
    }, cliProgress.Presets.legacy);
    bar.start(total, 0, { extra: "", ...mb(0, total) });
  }
  let stopped = false;
  return {
    update(done, info = {}) {
      onUpdate?.(done, total, info);
      if (bar && !stopped) {
        const extra = Object.entries(info).map(([k, v]) => `${k}: ${v}`).join(" - ");
        bar.update(done, { extra, ...mb(done, total) });
      }
    },
    stop() {
      if (!stopped) bar?.stop();
      stopped = true;
    },
  };
}

function mb(done: number, total: number) {
  return { mbDone: (done / 1e6).toFixed(1), mbTotal: (total / 1e6).toFixed(1) };
}
