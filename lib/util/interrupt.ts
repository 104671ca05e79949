/**
 * Ctrl-C and SIGTERM during a command: the first asks the work to stop at its next safe point
 * (for training, the end of the step under way), so it can say what stands and how to resume;
 * the second exits at once, leaving the last complete checkpoint.
 *
 * @module
 */

/** The exit status that shells give a process ended by `signal`: 128 + its number. */
export function signalExitCode(signal: string): number {
  return 128 + (signal === "SIGTERM" ? 15 : 2);
}

/**
 * Listen for SIGINT and SIGTERM (SIGINT only on Windows, where SIGTERM cannot be caught): the
 * first aborts `signal` (its reason the signal's name) and calls `onFirst`; the second exits
 * with 130, as shells report Ctrl-C. `dispose` removes the listeners.
 */
export function stopOnSignals(
  onFirst: (signal: Deno.Signal) => void = () => {},
): { readonly signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
  const handlers = signals.map((signal) => {
    const handler = () => {
      if (controller.signal.aborted) Deno.exit(signalExitCode("SIGINT"));
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
 * Let a signal's listener run during long synchronous work: Deno delivers a signal only while
 * the event loop is parked, and each park costs time, so it parks at most once every `everyMs`.
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
