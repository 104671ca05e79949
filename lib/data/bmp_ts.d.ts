/**
 * The part of npm:bmp-ts that lib/data/image_decode.ts uses: bmp-ts's own declarations reference
 * @types/node, which changes node:assert's overloads in every program that imports them.
 *
 * @module
 */

/** A decoded BMP: `data` holds 4 bytes per pixel, in A, B, G, R order, rows top first. */
interface BmpImage {
  width: number;
  height: number;
  data: Uint8Array;
}

/** Decode a BMP file's bytes (a Node Buffer: bmp-ts reads it with Buffer's methods). */
export function decode(bmpData: Uint8Array): BmpImage;
