// Loads exported serving models with plain @tensorflow/tfjs, as their README.md shows, and predicts
// a batch: no mkt code anywhere on this path (a separate Node process, importing tfjs only).
// Usage: node plain-predict.mjs <batch.json> <out.json> <serving dir>...
// batch.json: { "<input name>": { "dtype": "int32" | "float32", "shape": [...], "values": [...] }, ... }
// out.json: { "<serving dir>": { "inputs": [the graph's input names], "scores": [...] }, ... }
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";

const [batchFile, outFile, ...dirs] = process.argv.slice(2);
const batch = JSON.parse(await readFile(batchFile, "utf8"));
const out = {};
for (const dir of dirs) {
  const json = JSON.parse(await readFile(join(dir, "model.json"), "utf8"));
  const bin = await readFile(join(dir, "weights.bin"));
  const model = await tf.loadGraphModel(
    tf.io.fromMemory({
      modelTopology: json.modelTopology,
      weightSpecs: json.weightsManifest[0].weights,
      weightData: bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength),
    }),
  );
  const description = JSON.parse(await readFile(join(dir, "inputs.json"), "utf8"));
  const feed = {};
  for (const input of description.inputs) {
    const b = batch[input.name];
    feed[input.name] = tf.tensor(b.values, b.shape, input.dtype);
  }
  const scores = model.execute(feed, description.output.name);
  out[dir] = { inputs: model.inputs.map((i) => i.name), scores: Array.from(await scores.data()) };
  tf.dispose([scores, ...Object.values(feed)]);
  model.dispose();
}
await writeFile(outFile, JSON.stringify(out));
