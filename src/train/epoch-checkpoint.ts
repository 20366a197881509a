/**
 * A training's state after its last completed epoch, saved so that a killed training goes on from
 * there and ends with the bits an uninterrupted one would have. A directory of:
 *   state.json      the epochs' logs, best epoch and valid AUC, whether patience ran out, seconds,
 *                   Adam's step count
 *   weights/        the model's variables after the epoch (a checkpoint)
 *   best/           the best epoch's variables, when the best is an earlier epoch
 *   optimizer/      Adam's moments, "m/<variable>" and "v/<variable>" (the checkpoint format)
 *   checksums.json  every file above, checked before anything is used
 * Epoch e shuffles with seed + e, so no reader position is needed: the next epoch reads from its start.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Module } from "../layers/params.ts";
import { buildDirAtomic, writeJsonAtomic } from "../util/atomic.ts";
import { CorruptArtefactError, sealDir, verifySealed } from "../util/checksums.ts";
import type { AdamState } from "./adam.ts";
import { assignCheckpoint, MANIFEST_FILE, readCheckpoint, readStoredValues, saveCheckpoint, saveValues, snapshotOf, type Storable } from "./checkpoint.ts";
import type { EpochLog, EpochState, ResumePoint, TrainingProgress } from "./trainer.ts";

const STATE_FILE = "state.json";
const WEIGHTS_DIR = "weights";
const BEST_DIR = "best";
const OPTIMIZER_DIR = "optimizer";

interface SavedState extends TrainingProgress {
  format: "mkt-epoch-checkpoint";
  version: 1;
  adamSteps: number;
  /** Whether best/ holds the best epoch's weights (else they are weights/). */
  hasBest: boolean;
}

/** The TrainingProgress fields of `p` alone. */
const progressOf = ({ epochs, bestEpoch, bestValidAuc, stoppedEarly, seconds }: TrainingProgress): TrainingProgress => ({ epochs, bestEpoch, bestValidAuc, stoppedEarly, seconds });

/** Saves `state` to `dir`, replacing what was there only once the new one is complete. */
export async function saveEpochCheckpoint(dir: string, state: EpochState): Promise<void> {
  const adam = await state.optimizer();
  await buildDirAtomic(dir, async (tmp) => {
    const files = [STATE_FILE];
    await saveCheckpoint(join(tmp, WEIGHTS_DIR), state.module);
    files.push(join(WEIGHTS_DIR, MANIFEST_FILE));
    if (state.best) {
      await saveValues(join(tmp, BEST_DIR), `${state.module.name} (best epoch ${state.bestEpoch})`, state.best);
      files.push(join(BEST_DIR, MANIFEST_FILE));
    }
    const moments: Array<[string, Storable]> = [...adam.moments].flatMap(([name, { shape, m, v }]): Array<[string, Storable]> => [
      [`m/${name}`, { shape, values: m }],
      [`v/${name}`, { shape, values: v }],
    ]);
    await saveValues(join(tmp, OPTIMIZER_DIR), "adam", moments);
    files.push(join(OPTIMIZER_DIR, MANIFEST_FILE));
    const saved: SavedState = { format: "mkt-epoch-checkpoint", version: 1, ...progressOf(state), adamSteps: adam.steps, hasBest: state.best !== undefined };
    await writeJsonAtomic(join(tmp, STATE_FILE), saved);
    // Each checkpoint's manifest holds its weights.bin's SHA-256: listing the manifests covers those.
    await sealDir(tmp, files);
  });
}

// NaN is written as null (JSON.stringify); read it back as NaN.
const auc = (x: number | null) => x ?? NaN;

function readState(file: string, text: string): SavedState {
  let state: SavedState;
  try {
    state = JSON.parse(text) as SavedState;
  } catch {
    throw new CorruptArtefactError(file, "corrupted (not valid JSON)");
  }
  if (state?.format !== "mkt-epoch-checkpoint" || state.version !== 1 || !Array.isArray(state.epochs) || !Number.isInteger(state.adamSteps)) {
    throw new CorruptArtefactError(file, "not an epoch checkpoint this mkt reads");
  }
  return {
    ...state,
    bestValidAuc: auc(state.bestValidAuc),
    epochs: state.epochs.map((e: EpochLog) => ({ ...e, validAuc: auc(e.validAuc) })),
  };
}

/**
 * Loads the epoch checkpoint in `dir` into `module` (its weights) and returns the rest, or
 * undefined when there is none. Everything is checked and read before the module is touched; a
 * corrupted file throws CorruptArtefactError naming it.
 */
export async function loadEpochCheckpoint(dir: string, module: Module): Promise<ResumePoint | undefined> {
  if (!(await verifySealed(dir))) return undefined;
  const state = readState(join(dir, STATE_FILE), await readFile(join(dir, STATE_FILE), "utf8"));
  const weights = await readCheckpoint(join(dir, WEIGHTS_DIR), module);
  const best = state.hasBest ? await readCheckpoint(join(dir, BEST_DIR), module) : undefined;
  const stored = await readStoredValues(join(dir, OPTIMIZER_DIR));
  const moments: AdamState["moments"] = new Map();
  for (const [name, { shape, values }] of stored) {
    if (!name.startsWith("m/")) continue;
    const v = stored.get(`v/${name.slice(2)}`);
    if (v === undefined) throw new CorruptArtefactError(join(dir, OPTIMIZER_DIR), `has the first moment of ${name.slice(2)} but not its second`);
    moments.set(name.slice(2), { shape: [...shape], m: values as Float32Array, v: v.values as Float32Array });
  }
  assignCheckpoint(module, weights);
  return {
    ...progressOf(state),
    ...(best ? { best: snapshotOf(best) } : {}),
    optimizer: { steps: state.adamSteps, moments },
  };
}
