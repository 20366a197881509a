import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import type { CtrModel } from "../../src/models/model.ts";
import { buildMem, buildTem } from "../../src/models/mkt/index.ts";
import { experimentSpecSchema } from "../../src/spec/experiment.ts";
import { randomTensors, SMALL_SIZES, testSchema } from "./helpers.ts";

const schema = testSchema();
const spec = experimentSpecSchema.parse({ name: "t", dataset: "d.yaml", sizes: SMALL_SIZES });

beforeAll(async () => {
  await tf.setBackend("cpu");
});

/** Tensor counts after each of 50 Adam steps (each inside tf.tidy), and the losses. */
function train(model: CtrModel, counts: { source: number; target: number }): { tensors: number[]; losses: number[] } {
  const batch = randomTensors(schema, counts, 11);
  const optimizer = tf.train.adam(1e-2);
  const tensors: number[] = [];
  const losses: number[] = [];
  for (let step = 1; step <= 50; step++) {
    const loss = tf.tidy(() => optimizer.minimize(() => model.loss(batch).total, true, model.trainableVariables())!);
    losses.push(loss.dataSync()[0]!);
    loss.dispose();
    tensors.push(tf.memory().numTensors);
  }
  optimizer.dispose();
  return { tensors, losses };
}

describe("MKT training memory", () => {
  it("MEM and then TEM keep a constant tensor count over 50 steps, and both learn the fixed batch", () => {
    const mem = buildMem({ schema, spec, seed: 1 });
    const stage1 = train(mem, { source: 24, target: 8 });
    expect(stage1.tensors[49]).toBe(stage1.tensors[4]);
    expect(stage1.losses[49]!).toBeLessThan(stage1.losses[0]!);
    const tem = buildTem({ schema, spec, seed: 1 }, mem);
    const stage2 = train(tem, { source: 0, target: 16 });
    expect(stage2.tensors[49]).toBe(stage2.tensors[4]);
    expect(stage2.losses[49]!).toBeLessThan(stage2.losses[0]!);
  });
});
