/**
 * One decoding thread of the folder loader: reads and hashes a file and, unless the cache holds
 * those bytes, decodes it to the input size. Only the small result crosses back.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import { createHash } from "node:crypto";
import { decodeImageFile, ImageFileError } from "./image_decode.ts";
import { toCifarPixels } from "./image_pixels.ts";
import type { DecodeJob, DecodeReply } from "./image_folder_decode.ts";
import { firstLine } from "../util/user_error.ts";

async function run(job: DecodeJob): Promise<DecodeReply> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(job.absolute);
  } catch (e) {
    return { id: job.id, reason: `cannot read it (${firstLine(e)})` };
  }
  const md5 = createHash("md5").update(bytes).digest("hex");
  if (md5 === job.knownMd5) return { id: job.id, md5, unchanged: true };
  try {
    const image = await decodeImageFile(bytes, job.path);
    return { id: job.id, md5, pixels: toCifarPixels(image, job.imageSize) };
  } catch (e) {
    // Whatever a decoder throws, the file is skipped and the run goes on.
    const reason = e instanceof ImageFileError
      ? e.reason
      : `could not be decoded (${firstLine(e)})`;
    return { id: job.id, md5, reason };
  }
}

self.onmessage = async (event: MessageEvent<DecodeJob>) => {
  const reply = await run(event.data);
  self.postMessage(reply, reply.pixels ? [reply.pixels.buffer as ArrayBuffer] : []);
};
