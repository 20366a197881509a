import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { DinAttention } from "../../src/layers/din-attention.ts";
import { EmbeddingGroup } from "../../src/layers/embedding.ts";
import { Mlp } from "../../src/layers/mlp.ts";
import { ParamInit } from "../../src/layers/params.ts";
import { Tower } from "../../src/layers/tower.ts";

beforeAll(async () => {
  await tf.setBackend("cpu");
});

describe("training loop memory", () => {
  it("holds a constant number of tensors across adam steps (embedding + DIN + MLP)", () => {
    const [batch, maxlen, dim] = [16, 5, 4];
    const init = new ParamInit(9);
    const emb = new EmbeddingGroup("m/emb", init, { dim, vocab: { user: 50, item: 40 } });
    const din = new DinAttention("m/din", init, { dim });
    const mlp = new Mlp("m/mlp", init, { inputSize: 3 * dim, sizes: [16, 8] });
    const tower = new Tower("m/tower", init, { inputSize: 8, hidden: [4] });
    const vars = [emb, din, mlp, tower].flatMap((m) => m.variables());

    const user = tf.randomUniform([batch], 0, 50, "int32", 1);
    const item = tf.randomUniform([batch], 0, 40, "int32", 2);
    const seq = tf.randomUniform([batch, maxlen], 0, 40, "int32", 3);
    const mask = tf.cast(tf.greater(seq, 0), "float32");
    const labels = tf.cast(tf.greater(tf.randomUniform([batch], 0, 1, "float32", 4), 0.5), "float32");
    const optimizer = tf.train.adam(1e-2);

    const loss = (): tf.Scalar => {
      const candidate = emb.lookup("item", item);
      const history = din.apply(candidate, emb.lookup("item", seq), mask).output;
      const x = tf.concat([emb.lookup("user", user), candidate, history], 1);
      return tf.losses.sigmoidCrossEntropy(labels, tower.apply(mlp.apply(x)));
    };
    const counts: number[] = [];
    const losses: number[] = [];
    for (let step = 1; step <= 50; step++) {
      const value = tf.tidy(() => optimizer.minimize(loss, true, vars)!);
      losses.push(value.dataSync()[0]!);
      value.dispose();
      counts.push(tf.memory().numTensors);
    }
    expect(counts[49]).toBe(counts[4]);
    // The loop did train: the loss went down on this fixed batch.
    expect(losses[49]!).toBeLessThan(losses[0]!);
  });
});
