import { mulberry32, weightedSampler } from "../../src/util/random.ts";

/** One logged positive of a log of positives only. */
export interface LoggedPositive {
  user: string;
  item: string;
  ts: number;
}

export interface PositiveLog {
  source: LoggedPositive[];
  target: LoggedPositive[];
  /** Target items clicked only as some user's last target positive (never in train under user_order / user_last). */
  lateItems: string[];
}

/**
 * A seeded log of positives only, two entities (products as source, content as target): each user
 * clicks items of a skewed popularity, now and then the same item twice; times increase per user and
 * the two entities interleave. A few "late" target items are clicked only as a user's last target
 * positive. Every row of a file is in time order, so without a time column file order is time order.
 */
export function positiveOnlyLog(options: { seed?: number; users?: number; sourceItems?: number; targetItems?: number; lateItems?: number } = {}): PositiveLog {
  const { seed = 11, users = 240, sourceItems = 300, targetItems = 120, lateItems = 4 } = options;
  const uniform = mulberry32(seed);
  const pick = (n: number) => weightedSampler(Float64Array.from({ length: n }, (_, i) => 1 / Math.pow(i + 3, 0.9)), uniform);
  const sourcePick = pick(sourceItems);
  const targetPick = pick(targetItems);
  const pad = (prefix: string, i: number) => `${prefix}${String(i).padStart(4, "0")}`;
  const late = Array.from({ length: lateItems }, (_, i) => pad("t9", i));
  const source: LoggedPositive[] = [];
  const target: LoggedPositive[] = [];
  for (let u = 1; u <= users; u++) {
    const user = pad("u", u);
    const nSource = 3 + Math.floor(uniform() * 25);
    const nTarget = 1 + Math.floor(uniform() * 12);
    let ts = 1_000 + Math.floor(uniform() * 500);
    // Both entities' clicks in one time line: each step is a source or a target click in proportion to what is left.
    let s = nSource;
    let t = nTarget;
    let lastTarget: LoggedPositive | undefined;
    while (s + t > 0) {
      ts += 1 + Math.floor(uniform() * 50);
      if (uniform() < s / (s + t)) {
        s--;
        source.push({ user, item: pad("s", sourcePick()), ts });
      } else {
        t--;
        lastTarget = { user, item: pad("t", targetPick()), ts };
        target.push(lastTarget);
      }
    }
    // Some users with several target clicks end on a late item (held out under user_order and user_last).
    if (lastTarget && nTarget >= 5 && u % 9 === 0) lastTarget.item = late[(u / 9) % lateItems]!;
  }
  const byTime = (a: LoggedPositive, b: LoggedPositive) => a.ts - b.ts || (a.user < b.user ? -1 : a.user > b.user ? 1 : 0);
  return { source: source.sort(byTime), target: target.sort(byTime), lateItems: late };
}

export function positivesCsv(rows: LoggedPositive[], withTime = true): string {
  const header = withTime ? "user_id,item_id,ts" : "user_id,item_id";
  return [header, ...rows.map((r) => (withTime ? `${r.user},${r.item},${r.ts}` : `${r.user},${r.item}`))].join("\n") + "\n";
}
