/**
 * Ctrl-C and SIGTERM during a command: the first asks the work to stop at its next safe point
 * (for training, the end of the step under way: lib/train/fit.ts reads the returned
 * `AbortSignal` before every step), the second exits at once.
 *
 * A run killed mid-step loses nothing that its last checkpoint holds (lib/train/checkpoint.ts
 * writes it atomically), but one that stops between steps can say what stands and how to
 * resume; so the first signal only aborts the signal, and the second exits straight away with
 * {@linkcode EXIT_AT_ONCE}: the checkpoint on disk is then the last complete one.
 *
 * @module
 */

/** Exit status after a second signal (128 + SIGINT, as shells report Ctrl-C). */
const EXIT_AT_ONCE = 130;

/** The exit status that shells give a process ended by `signal`: 128 + its number. */
export function signalExitCode(signal: string): number {
  return 128 + (signal === "SIGTERM" ? 15 : 2);
}

/** What {@linkcode stopOnSignals} returns. */
interface StopSignals {
  /** Aborted, with the signal's name as its reason, by the first signal. */
  readonly signal: AbortSignal;
  /** Remove the listeners (the default handling comes back). */
  dispose(): void;
}

/**
 * Listen for SIGINT and SIGTERM (SIGINT only on Windows, where SIGTERM cannot be caught): the
 * first aborts the returned signal and calls `onFirst`; the second exits with
 * {@linkcode EXIT_AT_ONCE}.
 */
export function stopOnSignals(onFirst: (signal: Deno.Signal) => void = () => {}): StopSignals {
  const controller = new AbortController();
  const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
  const handlers = signals.map((signal) => {
    const handler = () => {
      if (controller.signal.aborted) Deno.exit(EXIT_AT_ONCE);
      controller.abort(signal);
      onFirst(signal);
    };
    Deno.addSignalListener(signal, handler);
    return [signal, handler] as const;
  });
  return {
    signal: controller.signal,
    dispose() {
      for (const [signal, handler] of handlers) Deno.removeSignalListener(signal, handler);
    },
  };
}

/** The last time {@linkcode letSignalsIn} parked the event loop (ms, performance.now()). */
let lastPark = -Infinity;

/**
 * Let a signal's listener run during long synchronous work, at most once every `everyMs`: it
 * parks the event loop with a zero timeout, because Deno delivers a signal only while the loop is
 * parked, and parks at most that often because each park costs time (docs/performance.md).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const controller = new AbortController();
 * setTimeout(() => controller.abort("stop"), 0);
 * while (!controller.signal.aborted) await letSignalsIn(0);
 * assert.equal(controller.signal.reason, "stop");
 * ```
 */
export async function letSignalsIn(everyMs = 100): Promise<void> {
  if (performance.now() - lastPark < everyMs) return;
  await new Promise((resolve) => setTimeout(resolve, 0));
  lastPark = performance.now();
}
