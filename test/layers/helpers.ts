import * as tf from "@tensorflow/tfjs";
import { expect } from "vitest";
import type { Module } from "../../src/layers/params.ts";

/** Overwrites the parameter `name` (logical name) of `module` with `values`. */
export function setParam(module: Module, name: string, values: number[] | number[][]): void {
  const variable = module.namedVariables().get(name);
  if (variable === undefined) throw new Error(`no parameter ${name}; have ${[...module.namedVariables().keys()].join(", ")}`);
  variable.assign(tf.tensor(values, variable.shape));
}

/** Element-wise |actual − expected| ≤ tol, with equal shapes. */
export function expectClose(actual: tf.Tensor, expected: tf.Tensor | number[], tol = 1e-5): void {
  const want = expected instanceof tf.Tensor ? expected : tf.tensor(expected, actual.shape);
  expect(actual.shape).toEqual(want.shape);
  const got = Array.from(actual.dataSync());
  const ref = Array.from(want.dataSync());
  got.forEach((value, i) => expect(Math.abs(value - (ref[i] ?? NaN)), `element ${i}: ${value} vs ${ref[i]}`).toBeLessThanOrEqual(tol));
}
