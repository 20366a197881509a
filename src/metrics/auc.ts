/**
 * AUC (SPEC §4): probability that a random positive outranks a random negative, ties count 1/2.
 *
 * Speed matters (AUC + GAUC on 10M predictions in well under 3 s, one thread), so scores are not
 * sorted with Array.prototype.sort: each score is mapped to an unsigned integer key whose order
 * equals the float order, and the keys are LSD-radix-sorted together with a 32-bit payload
 * (the label here; user and label in GAUC). Equal keys are then walked as tie groups.
 *
 * A label counts as positive when it is > 0.5 (labels are 0/1).
 * A NaN score makes the metric NaN: there is no order to rank it in.
 */

export type Scores = Float32Array | Float64Array;

/**
 * Order-preserving unsigned keys of the scores. `lo` is null when every score is exactly a
 * float32 (always for Float32Array input, and for Float64Array holding float32 values):
 * then `hi` alone is the key. Otherwise the key is the 64-bit pair (hi, lo).
 */
export interface ScoreKeys {
  hi: Uint32Array;
  lo: Uint32Array | null;
  /** True when some score is NaN (the keys are then meaningless). */
  hasNaN: boolean;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** Positive label rule shared by every metric in this folder. */
export function isPositive(label: number): boolean {
  return label > 0.5;
}

/**
 * Maps scores to unsigned keys with the same order: for a non-negative float set the sign bit;
 * for a negative one flip all bits (bigger magnitude → smaller key). -0 is mapped to +0 so that
 * the two zeros tie, as they compare equal.
 */
export function scoreKeys(scores: Scores): ScoreKeys {
  const n = scores.length;
  if (scores instanceof Float64Array) {
    // Exact float32 values (e.g. a Float64Array copy of model outputs) take the cheaper 32-bit path:
    // the float32 order of such values is the float64 order, so nothing is lost.
    let allFloat32 = true;
    for (let i = 0; i < n; i++) {
      const x = scores[i]!;
      if (Math.fround(x) !== x) {
        allFloat32 = false;
        break;
      }
    }
    if (allFloat32) return scoreKeys(new Float32Array(scores));
    return keys64(scores);
  }
  const bits = new Uint32Array(scores.buffer, scores.byteOffset, n);
  const hi = new Uint32Array(n);
  let hasNaN = false;
  for (let i = 0; i < n; i++) {
    let b = bits[i]!;
    if (b === 0x80000000) b = 0; // -0 → +0
    if ((b & 0x7fffffff) > 0x7f800000) hasNaN = true;
    hi[i] = b & 0x80000000 ? ~b : b | 0x80000000; // Uint32Array stores modulo 2^32
  }
  return { hi, lo: null, hasNaN };
}

function keys64(scores: Float64Array): ScoreKeys {
  if (!LITTLE_ENDIAN) throw new Error("metrics: 64-bit score keys assume a little-endian platform");
  const n = scores.length;
  const bits = new Uint32Array(scores.buffer, scores.byteOffset, 2 * n);
  const hi = new Uint32Array(n);
  const lo = new Uint32Array(n);
  let hasNaN = false;
  for (let i = 0; i < n; i++) {
    const x = scores[i]!;
    if (x !== x) hasNaN = true;
    if (x === 0) {
      hi[i] = 0x80000000; // both zeros → key of +0
      lo[i] = 0;
      continue;
    }
    const h = bits[2 * i + 1]!;
    const l = bits[2 * i]!;
    if (h & 0x80000000) {
      hi[i] = ~h;
      lo[i] = ~l;
    } else {
      hi[i] = h | 0x80000000;
      lo[i] = l;
    }
  }
  return { hi, lo, hasNaN };
}

/** Arrays sorted ascending by key (hi, lo), payload carried along. */
interface SortedByKey {
  hi: Uint32Array;
  lo: Uint32Array | null;
  payload: Uint32Array;
}

const DIGIT_BITS = 11;
const RADIX = 1 << DIGIT_BITS;
const MASK = RADIX - 1;
const SHIFTS = [0, 11, 22] as const; // 11 + 11 + 10 bits cover a 32-bit word

/** Per-digit histograms of one key word, all three computed in a single sweep. */
function histograms(keys: Uint32Array): Uint32Array[] {
  const h0 = new Uint32Array(RADIX);
  const h1 = new Uint32Array(RADIX);
  const h2 = new Uint32Array(RADIX);
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!;
    h0[k & MASK]!++;
    h1[(k >>> 11) & MASK]!++;
    h2[k >>> 22]!++;
  }
  return [h0, h1, h2];
}

/**
 * LSD radix sort of (hi, lo, payload) by the key (hi, lo), ascending, stable.
 * With 64-bit keys it sorts by `hi` (3 passes) and then sorts each run of equal `hi` by `lo`:
 * typical scores leave short runs, so this beats 6 full passes. Consumes its inputs (they become
 * scratch buffers).
 */
function radixSortByKey(hi: Uint32Array, lo: Uint32Array | null, payload: Uint32Array): SortedByKey {
  const n = hi.length;
  let curHi: Uint32Array = hi;
  let curLo: Uint32Array | null = lo;
  let curP: Uint32Array = payload;
  let tmpHi: Uint32Array = new Uint32Array(n);
  let tmpLo: Uint32Array | null = lo === null ? null : new Uint32Array(n);
  let tmpP: Uint32Array = new Uint32Array(n);

  const hists = histograms(hi);
  for (let d = 0; d < SHIFTS.length; d++) {
    const hist = hists[d]!;
    const shift = SHIFTS[d]!;
    // Exclusive prefix sums → first output slot of each digit. A pass where every key has the
    // same digit is skipped (scores in [0, 1] share their top bits).
    let sum = 0;
    let trivial = false;
    for (let b = 0; b < RADIX; b++) {
      const c = hist[b]!;
      if (c === n) trivial = true;
      hist[b] = sum;
      sum += c;
    }
    if (trivial) continue;
    if (curLo === null) {
      for (let i = 0; i < n; i++) {
        const k = curHi[i]!;
        const pos = hist[(k >>> shift) & MASK]!++;
        tmpHi[pos] = k;
        tmpP[pos] = curP[i]!;
      }
    } else {
      const outLo = tmpLo!;
      for (let i = 0; i < n; i++) {
        const k = curHi[i]!;
        const pos = hist[(k >>> shift) & MASK]!++;
        tmpHi[pos] = k;
        outLo[pos] = curLo[i]!;
        tmpP[pos] = curP[i]!;
      }
    }
    [curHi, tmpHi] = [tmpHi, curHi];
    [curLo, tmpLo] = [tmpLo, curLo];
    [curP, tmpP] = [tmpP, curP];
  }
  if (curLo !== null) sortRunsByLo(curHi, curLo, curP);
  return { hi: curHi, lo: curLo, payload: curP };
}

/** Runs up to this length are insertion-sorted; longer ones are radix-sorted. */
const INSERTION_MAX = 32;

/** Sorts each run of equal `hi` by `lo` in place, carrying the payload. */
function sortRunsByLo(hi: Uint32Array, lo: Uint32Array, payload: Uint32Array): void {
  const n = hi.length;
  let s = 0;
  while (s < n) {
    const h = hi[s]!;
    let e = s + 1;
    while (e < n && hi[e] === h) e++;
    const len = e - s;
    if (len > INSERTION_MAX) {
      const sorted = radixSortByKey(lo.slice(s, e), null, payload.slice(s, e));
      lo.set(sorted.hi, s);
      payload.set(sorted.payload, s);
    } else if (len > 1) {
      for (let i = s + 1; i < e; i++) {
        const l = lo[i]!;
        const p = payload[i]!;
        let j = i - 1;
        while (j >= s && lo[j]! > l) {
          lo[j + 1] = lo[j]!;
          payload[j + 1] = payload[j]!;
          j--;
        }
        lo[j + 1] = l;
        payload[j + 1] = p;
      }
    }
    s = e;
  }
}

/**
 * Scores sorted ascending: `key` is order-preserving and equal exactly for equal scores (the
 * float32 key itself, or a dense tie-group rank when 64-bit keys were needed); payload alongside.
 */
export interface SortedScores {
  key: Uint32Array;
  payload: Uint32Array;
}

/**
 * Sorts the payload by score. With 64-bit keys the (hi, lo) pairs are then replaced by dense
 * ranks, so that everything downstream (GAUC's regrouping, the AUC walk) handles one word only.
 * Consumes `keys` and `payload`.
 */
export function sortByScore(keys: ScoreKeys, payload: Uint32Array): SortedScores {
  const sorted = radixSortByKey(keys.hi, keys.lo, payload);
  const { hi, lo } = sorted;
  if (lo !== null && hi.length > 0) {
    let prevH = hi[0]!;
    let prevL = lo[0]!;
    let rank = 0;
    hi[0] = 0;
    for (let i = 1; i < hi.length; i++) {
      const h = hi[i]!;
      const l = lo[i]!;
      if (h !== prevH || l !== prevL) rank++;
      prevH = h;
      prevL = l;
      hi[i] = rank;
    }
  }
  return { key: hi, payload: sorted.payload };
}

/**
 * AUC of the slice [start, end) of scores sorted ascending; the label is bit 0 of the payload.
 * Walks groups of equal keys: each positive in a group outranks every negative below it and
 * ties with the group's negatives (1/2 each). With `userCounts` (a bootstrap resample) a row
 * weighs its user's count, the user being payload >>> 1. NaN when the slice lacks a class.
 */
export function aucOfSortedRange(sorted: SortedScores, start: number, end: number, userCounts?: Uint32Array): number {
  const { key, payload } = sorted;
  let negBelow = 0;
  let positives = 0;
  let wins = 0; // Σ over (positive, negative) pairs of 1 per win, 1/2 per tie: exact in a double
  let i = start;
  while (i < end) {
    const k = key[i]!;
    let p = 0;
    let q = 0;
    do {
      const row = payload[i]!;
      const w = userCounts ? userCounts[row >>> 1]! : 1;
      if (row & 1) p += w;
      else q += w;
      i++;
    } while (i < end && key[i] === k);
    wins += p * (negBelow + 0.5 * q);
    negBelow += q;
    positives += p;
  }
  if (positives === 0 || negBelow === 0) return NaN;
  return wins / (positives * negBelow);
}

/** Throws when scores and labels differ in length. */
export function checkLengths(scores: ArrayLike<number>, labels: ArrayLike<number>): void {
  if (labels.length !== scores.length) {
    throw new Error(`metrics: ${scores.length} scores but ${labels.length} labels`);
  }
}

/**
 * AUC with ties counted 1/2, O(n) radix sort + one walk. NaN when there is no positive or no
 * negative, or when a score is NaN.
 */
export function auc(scores: Scores, labels: ArrayLike<number>): number {
  checkLengths(scores, labels);
  const n = scores.length;
  const keys = scoreKeys(scores);
  if (keys.hasNaN) return NaN;
  const payload = new Uint32Array(n);
  let positives = 0;
  for (let i = 0; i < n; i++) {
    if (isPositive(labels[i]!)) {
      payload[i] = 1;
      positives++;
    }
  }
  if (positives === 0 || positives === n) return NaN; // skip the sort
  return aucOfSortedRange(sortByScore(keys, payload), 0, n);
}
