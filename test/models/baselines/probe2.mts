import * as tf from "@tensorflow/tfjs";
import { selectBackend } from "../../../src/engine/backend.ts";
import { batchToTensors } from "../../../src/models/inputs.ts";
import { MinetModel } from "../../../src/models/baselines/minet.ts";
import { ConetModel } from "../../../src/models/baselines/conet.ts";
import { ParamInit } from "../../../src/layers/params.ts";
import { openSyntheticTiny } from "./stage-context.ts";
import { SMALL_SIZES } from "../helpers.ts";

await selectBackend("wasm");
const { dataset, close } = await openSyntheticTiny();
for (const model of [new MinetModel("minet", new ParamInit(1), { schema: dataset.schema, sizes: SMALL_SIZES }), new ConetModel("conet", new ParamInit(1), { schema: dataset.schema, sizes: SMALL_SIZES })]) {
const opt = tf.train.adam(5e-3);
let n = 0;
for await (const batch of dataset.batches({ split: "train", entities: ["source", "target"], batchSize: 256, shuffle: { bufferRows: 65536, seed: 1 } })) {
  const t = batchToTensors(batch);
  if (++n < 3) { tf.tidy(() => void opt.minimize(() => model.loss(t).total, false, model.trainableVariables())); continue; }
  const t0 = performance.now();
  const info = await tf.profile(() => tf.tidy(() => void opt.minimize(() => model.loss(t).total, false, model.trainableVariables())));
  const agg = new Map<string, number>();
  for (const k of info.kernels) agg.set(k.name, (agg.get(k.name) ?? 0) + (k.kernelTimeMs as number));
  console.log(model.name, performance.now() - t0, info.kernels.length, [...agg].sort((a, b) => b[1] - a[1]).slice(0, 10).map(([k, v]) => `${k}:${v.toFixed(1)}`).join(" "));
  for (const k of info.kernels.filter((k) => ["Unpack", "Slice", "SplitV"].includes(k.name)).sort((a, b) => (b.kernelTimeMs as number) - (a.kernelTimeMs as number)).slice(0, 6)) console.log(k.name, k.kernelTimeMs, JSON.stringify(k.inputShapes), JSON.stringify(k.outputShapes).slice(0, 80));
  break;
}
}
await close();
