/**
 * A replica worker thread: builds its model replica, takes the main thread's weights, then for
 * each step computes its part's gradient and, when told, applies the summed gradient.
 */
import * as tf from "@tensorflow/tfjs";
import { parentPort } from "node:worker_threads";
import { selectBackend } from "../../engine/backend.ts";
import { buildReplica } from "./factory.ts";
import type { FromWorker, ToWorker } from "./protocol.ts";
import { Replica } from "./replica.ts";

if (parentPort === null) throw new Error("worker.ts must run in a worker thread");
const port = parentPort;
let replica: Replica<unknown> | undefined;

const send = (message: FromWorker, transfer: ArrayBuffer[] = []) => port.postMessage(message, transfer);

function need(): Replica<unknown> {
  if (replica === undefined) throw new Error("replica worker: not initialised");
  return replica;
}

async function handle(message: ToWorker): Promise<void> {
  switch (message.type) {
    case "init": {
      const backend = await selectBackend(message.backend, { kernelOverrides: message.kernelOverrides });
      const model = await buildReplica(message.factory);
      replica = new Replica(model, message.learningRate, message.buffers, message.slot);
      send({ type: "ready", backend: backend.name });
      return;
    }
    case "weights": {
      const variables = need().model.namedVariables();
      for (const [name, { shape, data }] of Object.entries(message.values)) {
        const variable = variables.get(name);
        if (variable === undefined) throw new Error(`replica worker: the replica has no variable ${name}`);
        tf.tidy(() => variable.assign(tf.tensor(data, shape, "float32")));
      }
      if (variables.size !== Object.keys(message.values).length) throw new Error(`replica worker: ${variables.size} variables, ${Object.keys(message.values).length} sent`);
      send({ type: "loaded" });
      return;
    }
    case "gradients":
      send({ type: "gradients", loss: need().computeGradients(message.batch, message.weight, message.generation) });
      return;
    case "apply":
      need().applySum(message.generation);
      return;
    case "predict": {
      const scores = await need().predict(message.batch);
      send({ type: "scores", scores }, [scores.buffer as ArrayBuffer]);
      return;
    }
    case "values": {
      const values = need().trainableValues();
      send({ type: "values", values }, values.map((v) => v.buffer as ArrayBuffer));
      return;
    }
    case "close":
      replica?.dispose();
      replica?.model.dispose();
      port.close();
      return;
  }
}

// Messages are handled one at a time, in order: "apply" of step s runs before "gradients" of s + 1.
let queue = Promise.resolve();
port.on("message", (message: ToWorker) => {
  queue = queue.then(() => handle(message)).catch((error: unknown) => {
    const e = error instanceof Error ? error : new Error(String(error));
    send({ type: "error", message: e.message, ...(e.stack ? { stack: e.stack } : {}) });
  });
});
