import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { prepareDataset } from "../../src/data/prepare/index.ts";
import { PreparedDataset } from "../../src/data/reader.ts";
import type { EntityName } from "../../src/data/batch.ts";
import type { PreparedSchema } from "../../src/data/schema.ts";
import { Dense } from "../../src/layers/dense.ts";
import { EmbeddingGroup } from "../../src/layers/embedding.ts";
import { Module, ParamInit } from "../../src/layers/params.ts";
import type { BatchTensors } from "../../src/models/inputs.ts";
import type { CtrModel, LossResult } from "../../src/models/model.ts";
import { loadSpec } from "../../src/spec/load.ts";
import { datasetSpecSchema } from "../../src/spec/dataset.ts";
import type { TrainingSettings } from "../../src/train/trainer.ts";

/** synthetic-tiny prepared into a fresh temporary out root; `cleanup` closes and deletes it. */
export async function openTinyDataset(): Promise<{ dataset: PreparedDataset; outRoot: string; cleanup: () => Promise<void> }> {
  const outRoot = await mkdtemp(join(tmpdir(), "mkt-train-test-"));
  const spec = await loadSpec("datasets/synthetic-tiny.yaml", datasetSpecSchema);
  const { dir } = await prepareDataset(spec.value, spec.dir, { outRoot });
  const dataset = await PreparedDataset.open(dir);
  return {
    dataset,
    outRoot,
    cleanup: async () => {
      dataset.close();
      await rm(outRoot, { recursive: true, force: true });
    },
  };
}

/** Columns the tiny model reads: user, shared and target-specific ids. */
const COLUMNS = ["user__user_id", "user__age_bucket", "user__gender", "shared__category", "shared__creator_id", "target__item_id", "target__style", "target__media_type"];

class TinyNet extends Module {
  readonly embeddings: EmbeddingGroup;
  readonly hidden: Dense;
  readonly out: Dense;

  constructor(init: ParamInit, vocab: Record<string, number>, dim: number) {
    super("tiny");
    this.embeddings = this.child(new EmbeddingGroup(this.scoped("emb"), init, { dim, vocab }));
    this.hidden = this.child(new Dense(this.scoped("hidden"), init, { inputSize: COLUMNS.length * dim, units: 8, activation: "relu" }));
    this.out = this.child(new Dense(this.scoped("out"), init, { inputSize: 8, units: 1 }));
  }
}

export interface TinyModelOptions {
  seed: number;
  /** Embedding size (a different one gives a checkpoint-incompatible model). */
  dim?: number;
  trainEntities?: EntityName[];
}

/**
 * A small MLP over a few feature embeddings, standing in for any CtrModel. Its loss has two
 * parts (BCE and a tiny L2 term) so that part logging is exercised.
 */
export class TinyModel implements CtrModel {
  readonly name = "tiny";
  readonly trainEntities: EntityName[];
  readonly module: TinyNet;
  /** When set, predictions are inverted (1 − p): lets a test make validation AUC worse on demand. */
  invert = false;

  constructor(schema: PreparedSchema, options: TinyModelOptions) {
    const vocab = Object.fromEntries(COLUMNS.map((c) => [c, schema.features.find((f) => f.column === c)!.vocabSize]));
    this.module = new TinyNet(new ParamInit(options.seed), vocab, options.dim ?? 4);
    this.trainEntities = options.trainEntities ?? ["target"];
  }

  trainableVariables(): tf.Variable[] {
    return this.module.trainableVariables();
  }

  private logits(batch: BatchTensors): tf.Tensor1D {
    const fields = this.module.embeddings.lookupFields(batch.features, COLUMNS);
    const flat = fields.reshape([batch.size, -1]);
    return this.module.out.apply(this.module.hidden.apply(flat)).reshape([batch.size]) as tf.Tensor1D;
  }

  loss(batch: BatchTensors): LossResult {
    const bce = tf.losses.sigmoidCrossEntropy(batch.label, this.logits(batch)) as tf.Scalar;
    const l2 = tf.mul(1e-6, tf.sum(tf.square(this.module.hidden.kernel))) as tf.Scalar;
    return { total: tf.add(bce, l2) as tf.Scalar, parts: { bce, l2 } };
  }

  predictTarget(batch: BatchTensors): tf.Tensor1D {
    const p = tf.sigmoid(this.logits(batch));
    return this.invert ? tf.sub(1, p) : p;
  }
}

export function training(overrides: Partial<TrainingSettings> = {}): TrainingSettings {
  return { batch_size: 256, learning_rate: 0.01, max_epochs: 3, patience: 2, shuffle_buffer: 2048, eval_batch_size: 1024, ...overrides };
}

/** Every variable's values by logical name. */
export function weightValues(module: Module): Map<string, Float32Array> {
  return new Map([...module.namedVariables()].map(([name, v]) => [name, Float32Array.from(v.dataSync())]));
}
