import { readFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { stringify } from "yaml";
import type { z } from "../util/zod.ts";
import { datasetSpecSchema } from "../spec/dataset.ts";
import { experimentSpecFileSchema } from "../spec/experiment.ts";
import { loadSpec } from "../spec/load.ts";
import { expandVariants, suiteSpecSchema, type SuiteSpec } from "../spec/suite.ts";
import { writeFileAtomic, writeJsonAtomic } from "../util/atomic.ts";
import { UserError } from "../util/errors.ts";

/** `<out>/suites/<name>/suite.json`: what `mkt report` reads to write the suite's report. */
export const SUITE_FILE = "suite.json";

export interface SuiteVariantRecord {
  name: string;
  about?: string;
  /** The generator fields this variant sets over the base dataset's. */
  generator: Record<string, unknown>;
  /** Derived spec files (written before anything runs). */
  experimentFile: string;
  datasetFile: string;
  /** Set once the variant's experiment has been loaded. */
  runDir?: string;
}

export interface SuiteManifest {
  name: string;
  description?: string;
  specFile: string;
  /** Sweep fields in order (empty for a list of variants): the report charts against the first. */
  sweep: string[];
  variants: SuiteVariantRecord[];
}

export function suiteDir(outRoot: string, name: string): string {
  return resolve(outRoot, "suites", name);
}

/** One zod failure as "<path>: <message>". */
function firstIssue(error: z.ZodError): string {
  const issue = error.issues[0]!;
  return `${issue.path.length ? issue.path.join(".") : "(top level)"}: ${issue.message}`;
}

/**
 * Reads a suite spec and derives every variant's experiment and dataset spec, all validated before
 * anything is written; then writes them under `<out>/suites/<name>/specs/` with suite.json, so each
 * variant runs (and resumes) as an ordinary experiment.
 */
export async function planSuite(file: string, outRoot: string): Promise<SuiteManifest> {
  const suite = await loadSpec(file, suiteSpecSchema);
  const spec: SuiteSpec = suite.value;
  const baseFile = resolve(suite.dir, spec.dataset);
  const base = await loadSpec(baseFile, datasetSpecSchema);
  if (!base.value.generator) throw new UserError(`${file}: dataset: ${baseFile} has no generator; a suite varies generator settings`);
  const dir = suiteDir(outRoot, spec.name);
  const planned: { experiment: unknown; dataset: unknown; record: SuiteVariantRecord }[] = [];
  for (const variant of expandVariants(spec)) {
    const where = `${file}: variant '${variant.name}'`;
    const datasetFile = join(dir, "specs", `${variant.name}.dataset.yaml`);
    const experimentFile = join(dir, "specs", `${variant.name}.experiment.yaml`);
    const dataset = datasetSpecSchema.safeParse({
      ...base.value,
      name: `${base.value.name}-${variant.name}`,
      ...(base.value.raw_dir !== undefined ? { raw_dir: resolve(base.dir, base.value.raw_dir) } : {}),
      generator: { ...base.value.generator, ...variant.generator },
    });
    if (!dataset.success) throw new UserError(`${where}: dataset ${firstIssue(dataset.error)}`);
    const experimentValue = {
      ...spec.experiment,
      ...(variant.models ? { models: variant.models } : {}),
      name: `${spec.name}-${variant.name}`,
      dataset: datasetFile,
    };
    const experiment = experimentSpecFileSchema.safeParse(experimentValue);
    if (!experiment.success) throw new UserError(`${where}: experiment ${firstIssue(experiment.error)}`);
    const record: SuiteVariantRecord = { name: variant.name, ...(variant.about ? { about: variant.about } : {}), generator: variant.generator, experimentFile, datasetFile };
    // The dataset as given (defaults filled in are spelled out: the derived file stands alone).
    planned.push({ experiment: experimentValue, dataset: dataset.data, record });
  }
  for (const p of planned) {
    await writeFileAtomic(p.record.datasetFile, `# Derived by mkt from ${file}, variant ${p.record.name}: do not edit.\n${stringify(p.dataset)}`);
    await writeFileAtomic(p.record.experimentFile, `# Derived by mkt from ${file}, variant ${p.record.name}: do not edit.\n${stringify(p.experiment)}`);
  }
  const manifest: SuiteManifest = {
    name: spec.name,
    ...(spec.description ? { description: spec.description } : {}),
    specFile: resolve(file),
    sweep: spec.sweep ? Object.keys(spec.sweep) : [],
    variants: planned.map((p) => p.record),
  };
  // Run directories found by earlier runs of this suite are kept until the variant runs again.
  const previous = await readSuite(dir).catch(() => undefined);
  for (const v of manifest.variants) {
    const before = previous?.variants.find((p) => p.name === v.name && p.experimentFile === v.experimentFile);
    if (before?.runDir) v.runDir = before.runDir;
  }
  await writeJsonAtomic(join(dir, SUITE_FILE), manifest);
  return manifest;
}

/** Records a variant's run directory in suite.json. */
export async function recordVariantRun(manifest: SuiteManifest, outRoot: string, variant: string, runDir: string): Promise<void> {
  const record = manifest.variants.find((v) => v.name === variant);
  if (!record) throw new Error(`suite ${manifest.name}: no variant ${variant}`);
  record.runDir = runDir;
  await writeJsonAtomic(join(suiteDir(outRoot, manifest.name), SUITE_FILE), manifest);
}

export async function readSuite(dir: string): Promise<SuiteManifest> {
  const file = join(dir, SUITE_FILE);
  const text = await readFile(file, "utf8").catch(() => {
    throw new UserError(`${file}: cannot be read (is ${dirname(file)} a suite directory?)`);
  });
  try {
    return JSON.parse(text) as SuiteManifest;
  } catch {
    throw new UserError(`${file}: not valid JSON (corrupted): run the suite again with 'mkt run <suite spec>'`);
  }
}
