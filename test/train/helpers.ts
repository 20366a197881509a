import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { prepareDataset } from "../../src/data/prepare/index.ts";
import { PreparedDataset } from "../../src/data/reader.ts";
import type { EntityName } from "../../src/data/batch.ts";
import type { PreparedSchema } from "../../src/data/schema.ts";
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
const COLUMNS = ["user__user_id", "user__age_bucket", "user__gender", "shared__category", "shared__creator_id", "target__style", "target__media_type"];

class TinyNet extends Module {
  readonly embeddings: EmbeddingGroup;
  readonly bias: tf.Variable;

  constructor(init: ParamInit, vocab: Record<string, number>, dim: number) {
    super("tiny");
    this.embeddings = this.child(new EmbeddingGroup(this.scoped("emb"), init, { dim, vocab, initLimit: 0.1 }));
    this.bias = this.param("bias", init.zeros([1]));
  }
}

export interface TinyModelOptions {
  seed: number;
  /** Embedding size (a different one gives a checkpoint-incompatible model). */
  dim?: number;
  trainEntities?: EntityName[];
}

/**
 * A factorization machine (bias + pairwise dot products of field embeddings), standing in for any
 * CtrModel: small, yet it learns the planted user × item interactions of synthetic-tiny. Its loss
 * has two parts (BCE and a tiny L2 term on the batch's embeddings) so part logging is exercised.
 */
export class TinyModel implements CtrModel {
  readonly name = "tiny";
  readonly trainEntities: EntityName[];
  readonly module: TinyNet;
  /** When set, predictions are inverted (1 − p): lets a test make validation AUC worse on demand. */
  invert = false;

  constructor(schema: PreparedSchema, options: TinyModelOptions) {
    const vocab = Object.fromEntries(COLUMNS.map((c) => [c, schema.features.find((f) => f.column === c)!.vocabSize]));
    this.module = new TinyNet(new ParamInit(options.seed), vocab, options.dim ?? 8);
    this.trainEntities = options.trainEntities ?? ["target"];
  }

  trainableVariables(): tf.Variable[] {
    return this.module.trainableVariables();
  }

  /** [B, F, E] field embeddings. */
  private fields(batch: BatchTensors): tf.Tensor3D {
    return this.module.embeddings.lookupFields(batch.features, COLUMNS) as tf.Tensor3D;
  }

  /** b + Σ_{i<j} <v_i, v_j>, via ½((Σ v)² − Σ v²). */
  private logits(fields: tf.Tensor3D): tf.Tensor1D {
    const pairwise = tf.mul(0.5, tf.sum(tf.sub(tf.square(tf.sum(fields, 1)), tf.sum(tf.square(fields), 1)), 1));
    return tf.add(pairwise, this.module.bias) as tf.Tensor1D;
  }

  loss(batch: BatchTensors): LossResult {
    const fields = this.fields(batch);
    const bce = tf.losses.sigmoidCrossEntropy(batch.label, this.logits(fields)) as tf.Scalar;
    const l2 = tf.mul(1e-6, tf.sum(tf.square(fields))) as tf.Scalar;
    return { total: tf.add(bce, l2) as tf.Scalar, parts: { bce, l2 } };
  }

  predictTarget(batch: BatchTensors): tf.Tensor1D {
    const p = tf.sigmoid(this.logits(this.fields(batch)));
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
