/**
 * Decoding many image files on every core: a pool of Workers (lib/data/image_folder_worker.ts),
 * each given the next file as soon as it answers, two files in flight per worker so none waits
 * on the main thread between files.
 *
 * @module
 */

/** One file for a worker. */
export interface DecodeJob {
  /** The caller's index for the file. */
  id: number;
  /** Path to read. */
  absolute: string;
  /** Name for messages (relative to the folder). */
  path: string;
  /** Input side to bring the image to. */
  imageSize: number;
  /** MD5 the cache holds for this path: the same bytes are reported unchanged, not decoded. */
  knownMd5?: string;
}

/** A worker's answer: pixels, unchanged (same MD5 as `knownMd5`), or why it was skipped. */
export interface DecodeReply {
  id: number;
  /** MD5 of the bytes read (absent when the file could not be read). */
  md5?: string;
  /** `imageSize * imageSize * 3` bytes. */
  pixels?: Uint8Array;
  unchanged?: true;
  /** Why the file is skipped. */
  reason?: string;
}

/** Files each worker has in hand at once. */
const IN_FLIGHT = 2;

/**
 * Decode `jobs` on `workers` threads, calling `onReply` for each answer as it comes (in any
 * order). The workers are stopped at the end, and on failure.
 *
 * @param workers threads to start (at most one per job)
 * @param onReply called once per job
 * @throws Error when a worker itself fails (a bug; a bad file is a reply with a reason)
 */
export async function decodeInWorkers(
  jobs: DecodeJob[],
  workers: number,
  onReply: (reply: DecodeReply) => void,
): Promise<void> {
  const count = Math.min(Math.max(1, Math.floor(workers)), jobs.length);
  if (count === 0) return;
  const pool = Array.from(
    { length: count },
    () => new Worker(new URL("./image_folder_worker.ts", import.meta.url), { type: "module" }),
  );
  try {
    await new Promise<void>((resolve, reject) => {
      let next = 0;
      let answered = 0;
      const give = (worker: Worker) => {
        if (next < jobs.length) worker.postMessage(jobs[next++]);
      };
      for (const worker of pool) {
        worker.onmessage = (event: MessageEvent<DecodeReply>) => {
          try {
            onReply(event.data);
          } catch (e) {
            reject(e);
            return;
          }
          if (++answered === jobs.length) resolve();
          else give(worker);
        };
        worker.onerror = (event) => {
          event.preventDefault();
          reject(new Error(`image decoding worker failed: ${event.message}`));
        };
        for (let i = 0; i < IN_FLIGHT; i++) give(worker);
      }
    });
  } finally {
    for (const worker of pool) worker.terminate();
  }
}
