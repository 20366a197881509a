import { describe, expect, it } from "vitest";
import { formatDuration, RunProgress, secondsFor, stageRowsLeft, type ProgressFields } from "../../src/train/progress.ts";

/** A run whose clock the test sets (seconds), with its "progress" lines collected. */
function fakeRun(units: { model: string; seed: number; plannedRows: number }[]) {
  const clock = { t: 0 };
  const lines: { fields: ProgressFields; message: string }[] = [];
  const run = new RunProgress(units, { draw: false, now: () => clock.t, emit: (fields, message) => void lines.push({ fields, message }) });
  return { run, clock, lines };
}

// The trainer feeding a run's progress: test/train/trainer.test.ts; `mkt run --json` logging it: test/dist.test.ts.
describe("progress arithmetic", () => {
  it("rows left in a stage: the rest of the running epoch and every epoch after it", () => {
    expect(stageRowsLeft({ epochs: 10, epochRows: 1000 }, 0, 0)).toBe(10_000);
    expect(stageRowsLeft({ epochs: 10, epochRows: 1000 }, 2, 250)).toBe(7750);
    expect(stageRowsLeft({ epochs: 3, epochRows: 1000 }, 3, 0)).toBe(0);
    expect(secondsFor(7750, 250)).toBe(31);
    expect(secondsFor(0, Number.NaN)).toBe(0);
    expect(secondsFor(10, Number.NaN)).toBeNull();
    expect([formatDuration(42.4), formatDuration(190), formatDuration(3900), formatDuration(null)]).toEqual(["42s", "3m 10s", "1h 05m", "–"]);
  });

  it("stage and run ETA from measured throughput and rows left; a measured model replaces its plan", () => {
    // Two models, two seeds: A plans 2,000 training rows, B 4,000.
    const { run, clock, lines } = fakeRun([
      { model: "a", seed: 1, plannedRows: 2000 },
      { model: "b", seed: 1, plannedRows: 4000 },
      { model: "a", seed: 2, plannedRows: 2000 },
      { model: "b", seed: 2, plannedRows: 4000 },
    ]);
    run.startUnit("a", 1);
    const stage = run.startStage({ stage: "a:train", epochs: 2, epochRows: 1000, epochsDone: 0 });
    stage.startEpoch(1);
    clock.t = 10;
    stage.update(500, 0.7);
    let f = run.fields();
    expect(f).toMatchObject({ model: "a", modelIndex: 1, models: 2, seed: 1, seedIndex: 1, seeds: 2, stage: "a:train", epoch: 1, epochs: 2, samples: 500, epochRows: 1000 });
    expect(f.samplesPerSecond).toBe(50);
    // 1,500 rows left at 50 rows/s.
    expect(f.stageEtaSeconds).toBe(30);
    // The stage (30 s); then b, a, b at the run's rate so far (50 rows/s): 80 + 40 + 80 s.
    expect(f.runEtaSeconds).toBe(230);

    // The epoch's validation takes 10 s: the stage's rate (its wall time) drops to 1,000 rows in 30 s; the epoch's training rate stays 50.
    clock.t = 20;
    stage.update(1000, 0.6);
    clock.t = 30;
    stage.endEpoch();
    expect(lines).toHaveLength(1);
    expect(lines[0]!.fields).toMatchObject({ epoch: 1, samples: 1000, samplesPerSecond: 50, stageEtaSeconds: 30, loss: 0.6 });
    // The run: the stage (30 s), then b, a, b at 1,000 rows in 30 s: 120 + 60 + 120 s.
    expect(lines[0]!.message).toBe("model 1 of 2 (a), seed 1 of 2, a:train epoch 1/2: epoch done; ETA stage 30s, run 5m 30s");

    stage.startEpoch(2);
    clock.t = 50;
    stage.update(1000, 0.5);
    stage.endEpoch();
    stage.stop();
    // Stage done: b, a, b at 2,000 rows in 50 s: 100 + 50 + 100 s.
    expect(lines.map((l) => l.message.split(": ")[1])).toEqual(["epoch done; ETA stage 30s, run 5m 30s", "epoch done; ETA stage 0s, run 4m 10s", "stage done; ETA stage 0s, run 4m 10s"]);
    clock.t = 60;
    run.finishUnit();

    // a measured 2,000 rows in 60 s: its seed 2 is 60 s; b is still planned at a's rate (2,000/60 rows/s).
    run.startUnit("b", 1);
    f = run.fields();
    expect(f).toMatchObject({ model: "b", modelIndex: 2, seedIndex: 1, stageEtaSeconds: null });
    expect(f.runEtaSeconds).toBe(120 + 60 + 120);
  });

  it("a resumed stage counts only the epochs it has left, in the stage and in its unit", () => {
    const { run, clock } = fakeRun([{ model: "a", seed: 1, plannedRows: 5000 }]);
    run.startUnit("a", 1);
    const stage = run.startStage({ stage: "a:train", epochs: 5, epochRows: 1000, epochsDone: 3 });
    expect(run.fields()).toMatchObject({ epoch: 3, stageEtaSeconds: null });
    stage.startEpoch(4);
    clock.t = 4;
    stage.update(400, 0.5);
    // 600 + 1,000 rows left at 100 rows/s.
    expect(run.fields()).toMatchObject({ epoch: 4, stageEtaSeconds: 16, runEtaSeconds: 16 });
  });
});
