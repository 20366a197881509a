/**
 * A replica worker thread: builds its model replica, takes the main thread's weights and trainable
 * flags, then for each step computes its part's gradient and, when told, takes the Adam step for
 * the variables it owns; it loads the others' new values before it next uses the weights.
 */
import { tf } from "../../engine/index.ts";
import { parentPort } from "node:worker_threads";
import { selectBackend } from "../../engine/index.ts";
import type { FromWorker, ReplicaFactory, ToWorker } from "./protocol.ts";
import { Replica, type ReplicaModel } from "./replica.ts";

if (parentPort === null) throw new Error("worker.ts must run in a worker thread");
const port = parentPort;
let model: ReplicaModel<unknown> | undefined;
let replica: Replica<unknown> | undefined;
/** After an update, the variables other replicas own are loaded before the weights are next used (they have all been published by then). */
let stale = false;

async function buildReplica(factory: ReplicaFactory): Promise<ReplicaModel<unknown>> {
  const exports = (await import(factory.module)) as Record<string, unknown>;
  const builder = exports[factory.exportName];
  if (typeof builder !== "function") throw new Error(`${factory.module} has no exported function ${factory.exportName}`);
  return (builder as (args: unknown) => Promise<ReplicaModel<unknown>>)(factory.args);
}

const send = (message: FromWorker, transfer: ArrayBuffer[] = []) => port.postMessage(message, transfer);

function need(): Replica<unknown> {
  if (replica === undefined) throw new Error("replica worker: not initialised");
  return replica;
}

function fresh(): Replica<unknown> {
  const r = need();
  if (stale) r.loadOthers();
  stale = false;
  return r;
}

async function handle(message: ToWorker): Promise<void> {
  switch (message.type) {
    case "init": {
      const backend = await selectBackend(message.backend, { kernelOverrides: message.kernelOverrides });
      model = await buildReplica(message.factory);
      send({ type: "ready", backend: backend.name });
      return;
    }
    case "weights": {
      if (model === undefined) throw new Error("replica worker: no model yet");
      const variables = model.namedVariables();
      for (const [name, { shape, data, trainable }] of Object.entries(message.values)) {
        const variable = variables.get(name);
        if (variable === undefined) throw new Error(`replica worker: the replica has no variable ${name}`);
        tf.tidy(() => variable.assign(tf.tensor(data, shape, "float32")));
        variable.trainable = trainable;
      }
      if (variables.size !== Object.keys(message.values).length) throw new Error(`replica worker: ${variables.size} variables, ${Object.keys(message.values).length} sent`);
      replica = new Replica(model, message.learningRate, message.buffers, message.slot);
      if (message.optimizer) replica.importOptimizer(message.optimizer);
      send({ type: "loaded" });
      return;
    }
    case "gradients":
      send({ type: "gradients", loss: fresh().computeGradients(message.batch, message.weight) });
      return;
    case "apply":
      need().applyOwn();
      stale = true;
      send({ type: "applied" });
      return;
    case "predict": {
      const scores = await fresh().predict(message.batch);
      send({ type: "scores", scores }, [scores.buffer as ArrayBuffer]);
      return;
    }
    case "values": {
      const values = fresh().trainableValues();
      send({ type: "values", values }, values.map((v) => v.buffer as ArrayBuffer));
      return;
    }
    case "optimizer":
      send({ type: "optimizer", state: await need().exportOptimizer() });
      return;
    case "close":
      replica?.dispose();
      model?.dispose();
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
