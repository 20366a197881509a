import { createRequire } from "node:module";
import { dirname } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { setWasmPaths } from "@tensorflow/tfjs-backend-wasm";
import { batchToTensors, disposeBatchTensors } from "../../../src/models/inputs.ts";
import { ConetModel } from "../../../src/models/baselines/conet.ts";
import { MinetModel } from "../../../src/models/baselines/minet.ts";
import { FinetuneNet } from "../../../src/models/baselines/finetune.ts";
import { CtnetSource, CtnetTarget } from "../../../src/models/baselines/ctnet.ts";
import { ParamInit } from "../../../src/layers/params.ts";
import { openSyntheticTiny } from "./stage-context.ts";
import { SMALL_SIZES } from "../helpers.ts";

const backend = process.argv[2] ?? "cpu";
setWasmPaths(`${dirname(createRequire(import.meta.url).resolve("@tensorflow/tfjs-backend-wasm"))}/`);
if (backend === "wasm") await (await import("../../../src/engine/backend.ts")).selectBackend("wasm"); else await tf.setBackend(backend);
const { dataset, close } = await openSyntheticTiny();
const opts = { schema: dataset.schema, sizes: SMALL_SIZES };
const models = {
  conet: () => new ConetModel("conet", new ParamInit(1), opts),
  minet: () => new MinetModel("minet", new ParamInit(1), opts),
  finetune: () => new FinetuneNet("finetune", new ParamInit(1), opts, "target"),
  ctnet: () => new CtnetTarget("ctnet", new ParamInit(1), { ...opts, source: new CtnetSource("s", new ParamInit(2), opts) }),
};
for (const [name, make] of Object.entries(models)) {
  const model = make();
  const opt = tf.train.adam(5e-3);
  let steps = 0; let t0 = 0;
  for await (const batch of dataset.batches({ split: "train", entities: model.trainEntities, batchSize: 256, shuffle: { bufferRows: 65536, seed: 1 } })) {
    if (steps === 3) t0 = performance.now();
    const t = batchToTensors(batch);
    tf.tidy(() => void opt.minimize(() => model.loss(t).total, false, model.trainableVariables()));
    disposeBatchTensors(t);
    if (++steps === 23) break;
  }
  console.log(name, backend, ((performance.now() - t0) / 20).toFixed(1), "ms/step");
}
await close();
