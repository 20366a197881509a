import { access, readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "../util/zod.ts";
import { mktRecipeName } from "../models/mkt/ablations.ts";
import { RESULT_FILE, modelDir } from "../run/model-run.ts";
import { modelResultSchema, type ModelResult } from "../run/result.ts";
import { experimentSpecSchema, type ExperimentSpec } from "../spec/experiment.ts";
import { CorruptArtefactError, verifySealed } from "../util/checksums.ts";
import { UserError } from "../util/errors.ts";

/** A (model or ablation, seed) the spec asks for that has no usable result.json. */
export interface MissingResult {
  /** Directory name: a model name or `mkt-<ablation>`. */
  model: string;
  seed: number;
  reason: string;
}

export interface CollectedRun {
  runDir: string;
  experiment: ExperimentRecord;
  /** Complete results, in spec order (references, models, then ablations; seeds ascending within each). */
  results: ModelResult[];
  missing: MissingResult[];
}

/** `<runDir>/experiment.json`, written by loadExperiment. */
const experimentSchema = z.object({
  specFile: z.string(),
  specHash: z.string(),
  dataset: z.string(),
  datasetFingerprint: z.string(),
  spec: experimentSpecSchema,
});
export type ExperimentRecord = z.output<typeof experimentSchema>;

/**
 * Directory names a run should hold: ItemPop (every run scores it), the Oracle where the run has
 * its directory (only generated data has true probabilities), the spec's models, then
 * `mkt-<ablation>` for each ablation.
 */
async function expectedVariants(runDir: string, spec: ExperimentSpec): Promise<string[]> {
  const oracle = await access(join(runDir, "oracle")).then(
    () => ["oracle"],
    () => [],
  );
  return ["itempop", ...oracle, ...spec.models, ...spec.ablations.map((a) => mktRecipeName(a))];
}

/**
 * Reads a run directory: experiment.json and every result.json of the references, spec.models and
 * spec.ablations × seeds. Results that are absent, unreadable or for another (model, seed) are
 * listed as missing, with why, instead of failing the report. A result whose files do not match
 * their checksums.json fails it (exit 2, naming the file): a corrupted result is never reported.
 */
export async function collectRun(runDir: string): Promise<CollectedRun> {
  const experiment = await readExperiment(runDir);
  const seeds = [...experiment.spec.seeds].sort((a, b) => a - b);
  const results: ModelResult[] = [];
  const missing: MissingResult[] = [];
  for (const model of await expectedVariants(runDir, experiment.spec)) {
    for (const seed of seeds) {
      const read = await readResult(runDir, model, seed, experiment.specFile);
      if ("reason" in read) missing.push({ model, seed, reason: read.reason });
      else results.push(read.result);
    }
  }
  return { runDir, experiment, results, missing };
}

/** Results per model (directory name), in the order given. */
export function resultsByModel(results: readonly ModelResult[]): Map<string, ModelResult[]> {
  const byModel = new Map<string, ModelResult[]>();
  for (const r of results) byModel.set(r.model, [...(byModel.get(r.model) ?? []), r]);
  return byModel;
}

async function readExperiment(runDir: string): Promise<ExperimentRecord> {
  const file = join(runDir, "experiment.json");
  const text = await readFile(file, "utf8").catch(() => undefined);
  if (text === undefined) {
    throw new UserError(`${file}: cannot read it: is ${runDir} a run directory (results/runs/<name>-<key>)?`);
  }
  const parsed = parseWith(experimentSchema, text);
  if ("error" in parsed) throw new UserError(`${file}: not a valid experiment record: ${parsed.error}`);
  return parsed.data;
}

async function readResult(runDir: string, model: string, seed: number, specFile: string): Promise<{ result: ModelResult } | { reason: string }> {
  const dir = modelDir(runDir, model, seed);
  const text = await readFile(join(dir, RESULT_FILE), "utf8").catch(() => undefined);
  if (text === undefined) return { reason: await whyNoResult(dir) };
  // Unsealed (no checksums.json): written by an mkt without checksums, or killed just before sealing; read as it is.
  try {
    await verifySealed(dir);
  } catch (error) {
    if (error instanceof CorruptArtefactError) throw error.withHint(`rerun 'mkt run ${specFile}', which computes it again`);
    throw error;
  }
  const parsed = parseWith(modelResultSchema, text);
  if ("error" in parsed) return { reason: `${RESULT_FILE} is not a valid result: ${parsed.error}` };
  const result = parsed.data;
  if (result.model !== model || result.seed !== seed) return { reason: `${RESULT_FILE} is for ${result.model} seed ${result.seed}` };
  return { result };
}

/** Distinguishes "never started" from "interrupted or still running" by the stage directories present. */
async function whyNoResult(dir: string): Promise<string> {
  const entries = await readdir(dir).catch(() => undefined);
  if (!entries) return "not run";
  const stages = entries.filter((e) => e.startsWith("stage-")).sort();
  return stages.length > 0 ? `no ${RESULT_FILE} yet (present: ${stages.join(", ")})` : `no ${RESULT_FILE} yet`;
}

function parseWith<S extends z.ZodType>(schema: S, text: string): { data: z.output<S> } | { error: string } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { error: "not valid JSON" };
  }
  const parsed = schema.safeParse(json);
  if (parsed.success) return { data: parsed.data };
  const issue = parsed.error.issues[0];
  return { error: issue ? `${issue.path.join(".") || "(root)"}: ${issue.message}` : "invalid" };
}
