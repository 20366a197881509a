import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { CrossNetwork } from "../../src/layers/cross-network.ts";
import { ParamInit } from "../../src/layers/params.ts";
import { expectClose, setParam } from "./helpers.ts";

beforeAll(async () => {
  await tf.setBackend("cpu");
});

describe("CrossNetwork", () => {
  it("matches x_{l+1} = x_0 (x_lᵀ w_l) + b_l + x_l computed by hand", () => {
    const net = new CrossNetwork("cross", new ParamInit(1), { inputSize: 2 });
    setParam(net, "cross/w0", [[1], [2]]);
    setParam(net, "cross/b0", [0.5, -1]);
    setParam(net, "cross/w1", [[-1], [1]]);
    setParam(net, "cross/b1", [0, 1]);
    // x0 = [1, 2]: x0ᵀw0 = 5 → x1 = [5, 10] + [0.5, −1] + [1, 2] = [6.5, 11];
    // x1ᵀw1 = 4.5 → x2 = [4.5, 9] + [0, 1] + [6.5, 11] = [11, 21].
    // x0 = [0, −1]: x0ᵀw0 = −2 → x1 = [0, 2] + [0.5, −1] + [0, −1] = [0.5, 0];
    // x1ᵀw1 = −0.5 → x2 = [0, 0.5] + [0, 1] + [0.5, 0] = [0.5, 1.5].
    expectClose(net.apply(tf.tensor2d([[1, 2], [0, -1]])), [11, 21, 0.5, 1.5]);
  });

  it("has `layers` (w, b) pairs of size D", () => {
    const net = new CrossNetwork("c3", new ParamInit(1), { inputSize: 5, layers: 3 });
    expect([...net.namedVariables().keys()]).toEqual(["c3/w0", "c3/b0", "c3/w1", "c3/b1", "c3/w2", "c3/b2"]);
    expect(net.apply(tf.ones([4, 5])).shape).toEqual([4, 5]);
  });
});
