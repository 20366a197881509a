import { createHash } from "node:crypto";
import { resolve } from "node:path";
import { prepareDataset, type PrepareResult } from "../data/prepare/index.ts";
import { fingerprintFiles } from "../data/prepare/write.ts";
import type { ExperimentSpec } from "../spec/experiment-common.ts";
import { loadExperimentSpecs, type ExperimentSpecs } from "../spec/experiment-specs.ts";
import { writeJsonAtomic } from "../util/atomic.ts";
import { CorruptArtefactError, verifySealed } from "../util/checksums.ts";

/** An experiment spec with its prepared dataset and its run directory. */
export interface LoadedExperiment {
  file: string;
  spec: ExperimentSpec;
  specHash: string;
  prepared: PrepareResult;
  /** `<outRoot>/runs/<name>-<key>`: the key hashes the spec and the dataset fingerprint. */
  runDir: string;
}

/**
 * Loads an experiment spec and its dataset spec, prepares the dataset if it is missing or its spec
 * changed, and names the run directory after a hash of the experiment spec and the dataset's
 * fingerprint: a changed spec or dataset gets a new directory, never a mix of results.
 */
export async function loadExperiment(file: string, outRoot: string, specs?: ExperimentSpecs): Promise<LoadedExperiment> {
  const { experiment: loaded, dataset: datasetSpec } = specs ?? (await loadExperimentSpecs(file));
  const prepared = await prepareDataset(datasetSpec.value, datasetSpec.dir, { outRoot, specFile: datasetSpec.file });
  if (!prepared.prepared) await verifyPrepared(prepared, `prepare it again with 'mkt prepare --force ${datasetSpec.file}'`);
  const specHash = createHash("sha256").update(JSON.stringify(loaded.value)).digest("hex");
  const key = createHash("sha256").update(`${specHash}\n${prepared.stats.fingerprint}`).digest("hex").slice(0, 12);
  const runDir = resolve(outRoot, "runs", `${loaded.value.name}-${key}`);
  await writeJsonAtomic(resolve(runDir, "experiment.json"), {
    specFile: file,
    specHash,
    dataset: prepared.stats.dataset,
    datasetFingerprint: prepared.stats.fingerprint,
    spec: loaded.value,
  });
  return { file, spec: loaded.value, specHash, prepared, runDir };
}

/**
 * Checks a reused prepared dataset's files against its checksums.json (a dataset prepared before
 * there were checksums: its split files against the fingerprint in stats.json), so a corrupted
 * Parquet file stops the command (exit 2, naming it) before anything trains on it.
 */
export async function verifyPrepared(prepared: PrepareResult, hint: string): Promise<void> {
  try {
    if (await verifySealed(prepared.dir)) return;
  } catch (error) {
    if (error instanceof CorruptArtefactError) throw error.withHint(hint);
    throw error;
  }
  const splitFiles = Object.values(prepared.schema.splits).map((s) => s.file);
  const fingerprint = await fingerprintFiles(prepared.dir, splitFiles).catch(() => "unreadable");
  if (fingerprint !== prepared.stats.fingerprint) {
    throw new CorruptArtefactError(`${prepared.dir}/{${splitFiles.join(",")}}`, "corrupted (they do not match the fingerprint in stats.json)", hint);
  }
}
