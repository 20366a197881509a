import type { ModelResult } from "../run/result.ts";
import { resultsByModel, type CollectedRun, type MissingResult } from "./collect.ts";

/** A value seen in the results' provenance and how many results carry it (mixed runs stay visible). */
export interface Tally {
  value: string;
  results: number;
}

export interface StageTiming {
  stage: string;
  /** Sum over seeds; a resumed stage counts 0 (its time was spent in an earlier invocation). */
  seconds: number;
  /** Per seed, aligned with ModelTiming.seeds. */
  epochsRun: number[];
  /** Seeds whose stage was loaded from its checkpoint. */
  resumedSeeds: number[];
}

export interface ModelTiming {
  model: string;
  seeds: number[];
  stages: StageTiming[];
  /** Test-split evaluation, sum over seeds. */
  evaluationSeconds: number;
  /** Whole runs (stages + evaluation), sum over seeds. */
  totalSeconds: number;
}

/** Provenance header of every report (SPEC §5). */
export interface ReportHeader {
  experiment: string;
  description: string | null;
  specFile: string;
  specHash: string;
  dataset: string;
  datasetFingerprint: string;
  seeds: number[];
  referenceModel: string;
  sizeNote: string | null;
  /** Complete results read. */
  results: number;
  backends: Tally[];
  versions: Tally[];
  gitCommits: Tally[];
  machines: Tally[];
  timing: ModelTiming[];
  missing: MissingResult[];
  /** Results whose provenance disagrees with experiment.json. */
  warnings: string[];
}

export function buildHeader(run: CollectedRun): ReportHeader {
  const { experiment, results } = run;
  const { spec } = experiment;
  const p = (r: ModelResult) => r.provenance;
  return {
    experiment: spec.name,
    description: spec.description ?? null,
    specFile: experiment.specFile,
    specHash: experiment.specHash,
    dataset: experiment.dataset,
    datasetFingerprint: experiment.datasetFingerprint,
    seeds: [...spec.seeds].sort((a, b) => a - b),
    referenceModel: spec.reference_model,
    sizeNote: spec.size_note ?? null,
    results: results.length,
    backends: tally(results.map((r) => backendText(p(r)))),
    versions: tally(results.flatMap((r) => Object.entries(p(r).versions).map(([name, version]) => `${name} ${version}`))),
    gitCommits: tally(results.map((r) => p(r).gitCommit)),
    machines: tally(results.map((r) => `${p(r).machine.platform}, ${p(r).machine.cpus} × ${p(r).machine.cpuModel}`)),
    timing: timings(results),
    missing: run.missing,
    warnings: results.flatMap((r) => provenanceWarnings(r, experiment.specHash, experiment.datasetFingerprint)),
  };
}

function backendText(p: ModelResult["provenance"]): string {
  const overrides = p.kernelOverrides.length > 0 ? `, kernel overrides: ${p.kernelOverrides.join(", ")}` : "";
  const replicas = (p.replicas ?? 1) > 1 ? `, ${p.replicas} training replicas` : "";
  return `${p.backend} (tfjs backend ${p.tfjsBackend}${overrides}${replicas})`;
}

/** Distinct values in order of first appearance, with their counts. */
function tally(values: readonly string[]): Tally[] {
  const counts = new Map<string, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  return [...counts].map(([value, results]) => ({ value, results }));
}

function timings(results: readonly ModelResult[]): ModelTiming[] {
  return [...resultsByModel(results)].map(([model, runs]) => {
    const stageNames = [...new Set(runs.flatMap((r) => r.stages.map((s) => s.stage)))];
    return {
      model,
      seeds: runs.map((r) => r.seed),
      stages: stageNames.map((stage) => {
        const records = runs.map((r) => r.stages.find((s) => s.stage === stage));
        return {
          stage,
          seconds: sum(records.map((s) => s?.seconds ?? 0)),
          epochsRun: records.map((s) => s?.epochsRun ?? 0),
          resumedSeeds: runs.filter((_, i) => records[i]?.resumed === true).map((r) => r.seed),
        };
      }),
      evaluationSeconds: sum(runs.map((r) => r.evaluation.seconds)),
      totalSeconds: sum(runs.map((r) => r.seconds)),
    };
  });
}

function provenanceWarnings(r: ModelResult, specHash: string, fingerprint: string): string[] {
  const at = `${r.model} seed ${r.seed}`;
  const warnings: string[] = [];
  if (r.provenance.specHash !== specHash) warnings.push(`${at} was computed with spec hash ${r.provenance.specHash}, not ${specHash}`);
  if (r.provenance.datasetFingerprint !== fingerprint) {
    warnings.push(`${at} was computed on dataset fingerprint ${r.provenance.datasetFingerprint}, not ${fingerprint}`);
  }
  return warnings;
}

function sum(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0);
}
