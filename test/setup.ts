import * as tf from "@tensorflow/tfjs";

// tfjs's cpu backend greets Node users on its first tensor with a banner recommending tfjs-node;
// mkt selects and reports its backend itself (src/engine/backend.ts does the same for the CLI).
(tf.findBackend("cpu") as { firstUse?: boolean } | null)!.firstUse = false;
