/**
 * Decoding many image files on a pool of Workers (lib/data/image_folder_worker.ts), two files in
 * flight per worker so none waits on the main thread between files.
 *
 * @module
 */

/** One file for a worker: `path` names it in messages; `absolute` is read. */
export interface DecodeJob {
  id: number;
  absolute: string;
  path: string;
  imageSize: number;
  /** MD5 the cache holds for this path: the same bytes are reported unchanged, not decoded. */
  knownMd5?: string;
}

/** A worker's answer: pixels, unchanged (same MD5 as `knownMd5`), or why it was skipped. */
export interface DecodeReply {
  id: number;
  /** Absent when the file could not be read. */
  md5?: string;
  pixels?: Uint8Array;
  unchanged?: true;
  reason?: string;
}

const IN_FLIGHT = 2;

/**
 * Decode `jobs` on up to `workers` threads, calling `onReply` once per job as answers come.
 * Rejects when a worker itself fails (a bug; a bad file is a reply with a reason).
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
