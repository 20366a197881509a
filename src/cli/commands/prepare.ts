import type { Command } from "commander";
import type { PrepareResult } from "../../data/prepare/index.ts";
import { checkOutputDir } from "../../util/files.ts";
import { int, pct, textTable } from "../format.ts";
import { globalOptions } from "../options.ts";

export function registerPrepare(program: Command): void {
  program
    .command("prepare")
    .description("turn a dataset spec's raw tables (or its generator) into a prepared dataset and print its summary")
    .argument("<dataset-spec>", "dataset spec (datasets/*.yaml)")
    .option("--force", "prepare again even if an up-to-date prepared dataset exists", false)
    .action(async (file: string, options: { force: boolean }, command: Command) => {
      const global = globalOptions(command);
      await checkOutputDir(global.out, "--out");
      const [{ datasetSpecSchema }, { loadSpec }] = await Promise.all([import("../../spec/dataset.ts"), import("../../spec/load.ts")]);
      const spec = await loadSpec(file, datasetSpecSchema);
      const { prepareDataset } = await import("../../data/prepare/index.ts");
      const result = await prepareDataset(spec.value, spec.dir, { outRoot: global.out, force: options.force, specFile: file });
      process.stdout.write(global.json ? JSON.stringify({ dir: result.dir, prepared: result.prepared, stats: result.stats }) + "\n" : summary(result) + "\n");
    });
}

export function summary({ dir, stats, schema, prepared }: PrepareResult): string {
  const sampled = Object.keys(stats.negatives).length > 0;
  const lines = [
    prepared
      ? `Prepared ${stats.dataset} → ${dir}: ${int(stats.rawRows)} raw rows in ${stats.seconds.toFixed(1)} s (${int(stats.rawRows / stats.seconds)} rows/s)`
      : `${stats.dataset} is already prepared with this spec → ${dir} (use --force to prepare again)`,
    `split: ${schema.split.detail}`,
    "",
    textTable(
      ["split", "rows", "positives", "CTR", "users", ...(sampled ? ["groups cut", "positives dropped"] : [])],
      Object.entries(stats.splits).map(([name, s]) => [
        name,
        int(s.rows),
        int(s.positives),
        pct(s.ctr),
        int(s.users),
        ...(sampled ? [s.groupsCut === undefined ? "–" : int(s.groupsCut), s.droppedPositives === undefined ? "–" : int(s.droppedPositives)] : []),
      ]),
    ),
  ];
  for (const [entity, n] of Object.entries(stats.negatives)) {
    const pool = n.strategy === "uniform" ? `uniformly from ${int(n.poolItems)} items` : `by popularity from ${int(n.poolItems)} items weighted by their ${int(n.poolWeight)} training positives`;
    lines.push(
      "",
      `negatives (${entity}): ${n.perPositive} per positive, sampled inside its split, without replacement, ${pool}`,
      `  groups ${int(n.groups)}; cut across splits ${int(n.groupsCut)}; incomplete ${int(n.incompleteGroups)}; duplicate negatives ${int(n.duplicateNegatives)}; ` +
        `on items the user interacted with ${int(n.negativesOnInteractedItems)}; outside the pool ${int(n.negativesOutsidePool)}`,
      `  positives dropped ${int(n.droppedPositives)} (${int(n.droppedUsers)} users with fewer than ${n.perPositive} items left to draw from)`,
    );
  }
  for (const left of stats.leftOutOfTraining) {
    if (left.rows === 0) continue;
    lines.push("", `not trained on: ${int(left.rows)} ${left.entity} rows (${pct(left.share, 1)} of its log; ${int(left.positives)} positives), ${left.reason}`);
  }
  const made = schema.features.filter((f) => f.implicit || f.derive);
  lines.push(
    "",
    `features: ${schema.features.map((f) => f.column).join(", ")}`,
    ...(made.length ? [`  made by prepare: ${made.map((f) => `${f.column} (${f.implicit ? `the ${f.name.replace("_", " ")}, always a feature` : `derived: ${f.derive}`})`).join(", ")}`] : []),
    "",
    `users: ${int(stats.users.total)} (source ${int(stats.users.source)}, target ${int(stats.users.target)}, in both ${int(stats.users.inBoth)})`,
    "",
    textTable(
      ["sequence length", "p50", "p90", "p99", "mean", "empty"],
      Object.entries(stats.sequenceLength).map(([name, s]) => [name, s.p50, s.p90, s.p99, s.mean.toFixed(1), pct(s.emptyShare, 1)]),
    ),
    "",
    textTable(
      ["user group (training clicks)", "users", "users in target test"],
      Object.keys(stats.userGroups.all).map((g) => [g, int(stats.userGroups.all[g] ?? 0), int(stats.userGroups.targetTest[g] ?? 0)]),
    ),
  );
  const bad = Object.entries(stats.badRows);
  if (bad.length) lines.push("", "bad rows skipped:", ...bad.map(([reason, n]) => `  ${reason}: ${int(n)}`));
  return lines.join("\n");
}
