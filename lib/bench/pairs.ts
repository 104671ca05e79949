/**
 * The arithmetic of the paired benchmark behind `deno task bench`, free of engines so it can be
 * tested on made-up timings.
 *
 * @module
 */
import { median } from "../util/stats.ts";

/** One turn of a model's benchmark: which side runs an epoch, and whether it is timed. */
interface Turn {
  side: "ours" | "theirs";
  /** The untimed first epoch of each side (graph built, caches warm). */
  warmUp: boolean;
  /** The pair this turn belongs to (0-based); -1 for the warm-ups. */
  pair: number;
}

/**
 * The turns of one model against one reference: a warm-up of each side, then ours, theirs ...
 * for `pairs` pairs, so a drift of the machine's speed falls on both sides of a pair.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const sides = turnOrder(2).map((t) => `${t.side}${t.warmUp ? "*" : t.pair}`);
 * assert.deepEqual(sides, ["ours*", "theirs*", "ours0", "theirs0", "ours1", "theirs1"]);
 * ```
 */
export function turnOrder(pairs: number): Turn[] {
  const turns: Turn[] = [
    { side: "ours", warmUp: true, pair: -1 },
    { side: "theirs", warmUp: true, pair: -1 },
  ];
  for (let pair = 0; pair < pairs; pair++) {
    turns.push({ side: "ours", warmUp: false, pair }, { side: "theirs", warmUp: false, pair });
  }
  return turns;
}

/** The pairs' ratios (ours / theirs in images/s) and their summary, rounded to 3 decimals. */
export interface PairSummary {
  ratios: number[];
  median: number;
  min: number;
  max: number;
  /** See {@linkcode noiseVerdict}. */
  conclusive: boolean;
  verdict: string;
}

const round3 = (x: number) => Number(x.toFixed(3));

/**
 * Each pair's ratio ours / theirs (images/s, pair by pair), summarised.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const s = summarizePairs([120, 130, 125], [100, 100, 100]);
 * assert.deepEqual([s.median, s.min, s.max, s.conclusive], [1.25, 1.2, 1.3, true]);
 * ```
 */
export function summarizePairs(ours: number[], theirs: number[]): PairSummary {
  if (ours.length !== theirs.length || ours.length === 0) {
    throw new Error(`pairs: ${ours.length} timings of ours against ${theirs.length} of theirs`);
  }
  const ratios = ours.map((o, i) => o / theirs[i]);
  const { conclusive, verdict } = noiseVerdict(ratios);
  return {
    ratios: ratios.map(round3),
    median: round3(median(ratios)),
    min: round3(Math.min(...ratios)),
    max: round3(Math.max(...ratios)),
    conclusive,
    verdict,
  };
}

/**
 * Whether the pairs' ratios say which side is faster: not when a pair lies across 1.0 from the
 * median, or when they spread wider than the median's distance from 1.0 (the lead is noise).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(noiseVerdict([1.3, 1.25, 1.2]).conclusive, true);
 * assert.equal(noiseVerdict([1.3, 1.1, 0.95]).conclusive, false); // a pair below 1.0
 * assert.equal(noiseVerdict([1.05, 1.2, 1.1]).conclusive, false); // spread 0.15 > lead 0.1
 * ```
 */
export function noiseVerdict(ratios: number[]): { conclusive: boolean; verdict: string } {
  const mid = median(ratios);
  const min = Math.min(...ratios), max = Math.max(...ratios);
  const spread = max - min, lead = Math.abs(mid - 1);
  const f = (x: number) => x.toFixed(2);
  const range = `pairs ${f(min)} to ${f(max)}, median ${f(mid)}`;
  const across = mid >= 1 ? ratios.filter((r) => r < 1) : ratios.filter((r) => r > 1);
  if (mid === 1 || across.length) {
    const n = mid === 1 ? ratios.length : across.length;
    return {
      conclusive: false,
      verdict: `too noisy to conclude: ${n} of ${ratios.length} pairs on the other side of 1.0 ` +
        `(${range})`,
    };
  }
  if (spread > lead) {
    return {
      conclusive: false,
      verdict: `too noisy to conclude: the pairs spread ${f(spread)}, wider than the median's ` +
        `distance from 1.0 (${f(lead)}; ${range})`,
    };
  }
  const who = mid > 1 ? "ours faster" : "theirs faster";
  return { conclusive: true, verdict: `${who} in every pair (${range})` };
}
