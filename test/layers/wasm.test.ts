import { createRequire } from "node:module";
import { dirname } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { setWasmPaths } from "@tensorflow/tfjs-backend-wasm";
import { beforeAll, describe, expect, it } from "vitest";
import { BilinearInteraction } from "../../src/layers/bilinear.ts";
import { cosineSimilarity } from "../../src/layers/cosine.ts";
import { CrossNetwork } from "../../src/layers/cross-network.ts";
import { DinAttention } from "../../src/layers/din-attention.ts";
import { EmbeddingGroup } from "../../src/layers/embedding.ts";
import { Glu } from "../../src/layers/glu.ts";
import { ParamInit } from "../../src/layers/params.ts";
import { Ple } from "../../src/layers/ple.ts";
import { maskedMeanPool } from "../../src/layers/pooling.ts";
import { Senet } from "../../src/layers/senet.ts";
import { Tower } from "../../src/layers/tower.ts";

beforeAll(async () => {
  const dist = dirname(createRequire(import.meta.url).resolve("@tensorflow/tfjs-backend-wasm"));
  setWasmPaths(`${dist}/`);
  expect(await tf.setBackend("wasm")).toBe(true);
});

describe("every block on the wasm backend", () => {
  it("has registered kernels for its forward pass and gradient", () => {
    const [batch, maxlen, dim] = [6, 4, 3];
    const init = new ParamInit(1);
    const emb = new EmbeddingGroup("w/emb", init, { dim, vocab: { a: 10, b: 12, c: 5 } });
    const din = new DinAttention("w/din", init, { dim });
    const senet = new Senet("w/senet", init, { fields: 3 });
    const bilinear = new BilinearInteraction("w/bi", init, { dim });
    const cross = new CrossNetwork("w/cross", init, { inputSize: 3 * dim });
    const ple = new Ple("w/ple", init, { inputSize: 3 * dim, levelSizes: [8, 4] });
    const glu = new Glu("w/glu", init, { inputSize: dim, outputSize: 4 });
    const tower = new Tower("w/tower", init, { inputSize: 8, hidden: [4] });
    const modules = [emb, din, senet, bilinear, cross, ple, glu, tower];

    const ids = (vocab: number, seed: number): tf.Tensor1D => tf.randomUniform([batch], 0, vocab, "int32", seed) as tf.Tensor1D;
    const fieldIds = { a: ids(10, 1), b: ids(12, 2), c: ids(5, 3) };
    const seq = tf.randomUniform([batch, maxlen], 0, 12, "int32", 4);
    const mask = tf.cast(tf.greater(seq, 0), "float32");

    const loss = (): tf.Scalar => {
      const fields = emb.lookupFields(fieldIds) as tf.Tensor3D; // [B, 3, E]
      const seqEmb = emb.lookup("b", seq);
      const attended = din.apply(emb.lookup("b", fieldIds.b), seqEmb, mask).output;
      const pooled = maskedMeanPool(seqEmb, mask);
      const reweighted = senet.apply(fields).output;
      const pairs = bilinear.apply(reweighted);
      const x = cross.apply(fields.reshape([batch, -1]));
      const { source, target } = ple.apply({ source: x.slice(0, 2), target: x.slice(2) });
      const g = tf.concat([source.output, target.output], 0);
      const extra = tf.concat([glu.apply(tf.add(attended, pooled)), tf.sum(pairs, 1).slice([0, 0], [-1, 1]).tile([1, 4])], 1);
      const logits = tower.apply(tf.add(g.tile([1, 2]), extra));
      return tf.add(tf.mean(logits), tf.mean(cosineSimilarity(g, extra.slice([0, 0], [-1, 4])))) as tf.Scalar;
    };
    const vars = modules.flatMap((m) => m.variables());
    const { value, grads } = tf.variableGrads(loss, vars);
    expect(tf.getBackend()).toBe("wasm");
    expect(Number.isFinite(value.dataSync()[0]!)).toBe(true);
    for (const variable of vars) {
      const grad = grads[variable.name];
      expect(grad, variable.name).toBeDefined();
      for (const g of grad!.dataSync()) expect(Number.isFinite(g), variable.name).toBe(true);
    }
  });
});
