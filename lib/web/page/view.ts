/// <reference lib="dom" />
/**
 * Drawing the web page's results: the image as the model sees it and the top classes as bars,
 * also written as JSON to the result element's `data-top5` (for scripts and tests).
 *
 * @module
 */
import type { RgbImage } from "../../data/image_pixels.ts";
import type { TopClass } from "../../inference/classify.ts";

/** Draw an RGB image onto a canvas of its size. */
export function showSeen(canvas: HTMLCanvasElement, image: RgbImage): void {
  canvas.width = image.width;
  canvas.height = image.height;
  const context = canvas.getContext("2d")!;
  const rgba = new ImageData(image.width, image.height);
  for (let p = 0; p < image.width * image.height; p++) {
    rgba.data.set(image.data.subarray(p * 3, p * 3 + 3), p * 4);
    rgba.data[p * 4 + 3] = 255;
  }
  context.putImageData(rgba, 0, 0);
}

/** Show the top classes as bars and record them on `result` as `data-top5` and `data-file`. */
export function showResult(
  result: HTMLElement,
  bars: HTMLElement,
  file: string,
  top: TopClass[],
): void {
  bars.classList.remove("muted");
  bars.replaceChildren(...top.map((t) => {
    const row = document.createElement("div");
    row.className = "bar";
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = `${t.rank}. ${t.name}`;
    // A folder's classes have no superclass to show.
    if (t.superclass) {
      const superclass = document.createElement("small");
      superclass.textContent = t.superclass;
      name.append(superclass);
    }
    const track = document.createElement("span");
    const fill = document.createElement("span");
    fill.className = "fill";
    fill.style.display = "block";
    fill.style.width = `${(t.probability * 100).toFixed(2)}%`;
    track.append(fill);
    const value = document.createElement("span");
    value.textContent = `${(t.probability * 100).toFixed(1)}%`;
    row.append(name, track, value);
    return row;
  }));
  result.dataset.top5 = JSON.stringify(top);
  result.dataset.file = file;
}
