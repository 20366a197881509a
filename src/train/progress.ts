import cliProgress from "cli-progress";
import { log, routeLogLines } from "../util/log.ts";

/**
 * Where a run stands, for a person to plan with: which (model, seed) of how many, the stage and its
 * epoch, the training rate, and how long the stage and the whole run have left. On a terminal it is
 * a two-line bar on stderr (log lines are written above it, never over it); otherwise (JSON logs, or
 * stderr not a terminal) the same fields are a log line after every epoch and at each stage's end
 * ("<where>: epoch done", "<where>: stage done").
 *
 * The estimates come from measured throughput and the rows left, never from a guess of speed:
 * - a stage has (epochs − finished epochs) × rows per epoch − rows done in the running epoch left
 *   (early stopping may end it sooner), at the stage's own rate so far (its wall time, validation
 *   included);
 * - each (model, seed) still to run has its model's rows and rate as measured on an earlier seed,
 *   or, for a model not measured yet, the planned rows (see PlannedUnit) at the rate of everything
 *   trained so far in this run.
 */

/** One (model, seed) of a run, in the order the command runs them. */
export interface PlannedUnit {
  model: string;
  seed: number;
  /** Training rows expected over all its stages and epochs (0: nothing to train); replaced by what the model measured once it has run for one seed. */
  plannedRows: number;
}

/** What the bar shows and each progress log line carries (null: not known yet). */
export interface ProgressFields {
  /** The (model, seed) running, 1-based positions among the run's distinct models and seeds (absent outside a run). */
  model?: string;
  modelIndex?: number;
  models?: number;
  seed?: number;
  seedIndex?: number;
  seeds?: number;
  stage: string;
  /** The running (or last finished) epoch, 1-based, of `epochs` at most. */
  epoch: number;
  epochs: number;
  /** Rows trained in the running epoch, of `epochRows`. */
  samples: number;
  epochRows: number;
  /** Training rate of the running epoch (validation excluded, like the epoch logs' samplesPerSecond). */
  samplesPerSecond: number | null;
  /** Running mean loss of the epoch. */
  loss: number | null;
  stageEtaSeconds: number | null;
  runEtaSeconds: number | null;
}

/** The trainer's view: one per trained stage. */
export interface StageProgress {
  startEpoch(epoch: number): void;
  /** After each step: rows trained so far in the epoch and its running mean loss. */
  update(samples: number, loss: number): void;
  /** After the epoch's validation and log line. */
  endEpoch(): void;
  /** When the stage ends (also when it fails). */
  stop(): void;
}

export interface StagePlan {
  /** As in the logs, e.g. "mkt:pretrain". */
  stage: string;
  /** The stage's epochs at most (early stopping may end it sooner). */
  epochs: number;
  /** Rows of one epoch (an upper bound when only some slices are read). */
  epochRows: number;
  /** Epochs already finished (a resumed stage). */
  epochsDone: number;
}

/** Rows a stage has left: the rest of the running epoch and every epoch after it. */
export function stageRowsLeft(plan: Pick<StagePlan, "epochs" | "epochRows">, epochsFinished: number, samplesInEpoch: number): number {
  return Math.max(0, (plan.epochs - epochsFinished) * plan.epochRows - samplesInEpoch);
}

/** Seconds for `rows` at `rowsPerSecond`; null when the rate is not known yet. */
export function secondsFor(rows: number, rowsPerSecond: number): number | null {
  if (rows <= 0) return 0;
  return Number.isFinite(rowsPerSecond) && rowsPerSecond > 0 ? rows / rowsPerSecond : null;
}

/** "1h 05m", "3m 10s", "42s", or "–" when unknown. */
export function formatDuration(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return "–";
  const s = Math.round(seconds);
  if (s >= 3600) return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
  if (s >= 60) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, "0")}s`;
  return `${s}s`;
}

/** What a model's finished units took in this run. */
interface Measured {
  /** Rows of its units, resumed epochs (trained by an earlier process) included. */
  rows: number;
  /** Rows trained in this process, in `seconds` of wall time (its rate). */
  rowsHere: number;
  seconds: number;
  units: number;
}

interface RunningStage {
  plan: StagePlan;
  started: number;
  /** The running epoch (between startEpoch and endEpoch), else the last one finished. */
  epoch: number;
  inEpoch: boolean;
  epochStarted: number;
  /** Time of the epoch's last step: its training rate leaves its validation out. */
  lastStep: number;
  samples: number;
  loss: number | null;
  /** Rows of the epochs finished in this process. */
  rowsFinished: number;
}

export interface RunProgressOptions {
  /** Draw the bar (a terminal, not JSON mode); otherwise log a progress line per epoch and stage. */
  draw: boolean;
  /** Clock in seconds (tests pass their own). */
  now?: () => number;
  /** Where progress lines go (default: the logger at info). */
  emit?: (fields: ProgressFields, message: string) => void;
}

/** The run being tracked in this process: a command starts it, the trainer's stages feed it. */
let active: RunProgress | undefined;

/** Tracks a run's (model, seed) units and their stages; see the module comment. */
export class RunProgress {
  private readonly models: string[];
  private readonly seeds: number[];
  private readonly measured = new Map<string, Measured>();
  private readonly now: () => number;
  private readonly emit: (fields: ProgressFields, message: string) => void;
  private readonly started: number;
  private unit = -1;
  private unitStarted = 0;
  /** Rows of the running unit's finished stages trained in this process, and trained before it (resumed epochs). */
  private unitRows = 0;
  private unitRowsBefore = 0;
  private stage: RunningStage | undefined;
  private bars: Bars | undefined;

  constructor(
    private readonly units: readonly PlannedUnit[],
    private readonly options: RunProgressOptions,
  ) {
    this.models = [...new Set(units.map((u) => u.model))];
    this.seeds = [...new Set(units.map((u) => u.seed))];
    this.now = options.now ?? (() => performance.now() / 1000);
    this.emit = options.emit ?? ((fields, message) => log().info(fields, message));
    this.started = this.now();
  }

  /** The (model, seed) that runs next (one of the planned units). */
  startUnit(model: string, seed: number): void {
    const index = this.units.findIndex((u) => u.model === model && u.seed === seed);
    if (index < 0) throw new Error(`progress: ${model} seed ${seed} is not a planned unit`);
    this.unit = index;
    this.unitStarted = this.now();
    this.unitRows = 0;
    this.unitRowsBefore = 0;
  }

  /** The running unit is done: its rows and wall time become its model's measured rate. */
  finishUnit(): void {
    const unit = this.units[this.unit];
    if (unit && this.unitRows > 0) {
      const m = this.measured.get(unit.model) ?? { rows: 0, rowsHere: 0, seconds: 0, units: 0 };
      this.measured.set(unit.model, {
        rows: m.rows + this.unitRows + this.unitRowsBefore,
        rowsHere: m.rowsHere + this.unitRows,
        seconds: m.seconds + (this.now() - this.unitStarted),
        units: m.units + 1,
      });
    }
    this.unit = -1;
    this.unitRows = 0;
    this.unitRowsBefore = 0;
  }

  /** A stage starts training (the trainer's hook). */
  startStage(plan: StagePlan): StageProgress {
    const t = this.now();
    this.stage = { plan, started: t, epoch: plan.epochsDone, inEpoch: false, epochStarted: t, lastStep: t, samples: 0, loss: null, rowsFinished: 0 };
    if (this.options.draw) this.bars ??= new Bars(this.units.length > 0);
    const stage = this.stage;
    return {
      startEpoch: (epoch) => {
        Object.assign(stage, { epoch, inEpoch: true, epochStarted: this.now(), lastStep: this.now(), samples: 0, loss: null });
        this.draw();
      },
      update: (samples, loss) => {
        Object.assign(stage, { samples, loss, lastStep: this.now() });
        this.draw();
      },
      endEpoch: () => {
        stage.inEpoch = false;
        stage.rowsFinished += stage.samples;
        if (!this.options.draw) this.emitLine("epoch done");
        this.draw();
      },
      stop: () => {
        if (this.stage !== stage) return;
        if (!this.options.draw) this.emitLine("stage done");
        this.unitRows += this.stageRows();
        this.unitRowsBefore += stage.plan.epochsDone * stage.plan.epochRows;
        this.stage = undefined;
        // A stage trained outside a run (tests, benchmarks) had a bar of its own.
        if (this.units.length === 0) this.stop();
      },
    };
  }

  /** Ends the bar (if drawn): log lines go straight to stderr again. */
  stop(): void {
    this.bars?.stop();
    this.bars = undefined;
    if (active === this) active = undefined;
  }

  /** The current fields (see ProgressFields). */
  fields(): ProgressFields {
    const t = this.now();
    const s = this.stage;
    const unit = this.units[this.unit];
    const stageRate = s ? this.stageRows() / (t - s.started) : Number.NaN;
    const stageLeft = s ? stageRowsLeft(s.plan, s.inEpoch ? s.epoch - 1 : s.epoch, s.inEpoch ? s.samples : 0) : 0;
    return {
      ...(unit
        ? {
            model: unit.model,
            modelIndex: this.models.indexOf(unit.model) + 1,
            models: this.models.length,
            seed: unit.seed,
            seedIndex: this.seeds.indexOf(unit.seed) + 1,
            seeds: this.seeds.length,
          }
        : {}),
      stage: s?.plan.stage ?? "",
      epoch: s?.epoch ?? 0,
      epochs: s?.plan.epochs ?? 0,
      samples: s?.samples ?? 0,
      epochRows: s?.plan.epochRows ?? 0,
      samplesPerSecond: s && s.samples > 0 && s.lastStep > s.epochStarted ? Math.round(s.samples / (s.lastStep - s.epochStarted)) : null,
      loss: s?.loss ?? null,
      stageEtaSeconds: s ? roundOrNull(secondsFor(stageLeft, stageRate)) : null,
      runEtaSeconds: unit ? roundOrNull(this.runEta(t, stageLeft, stageRate)) : null,
    };
  }

  /** Share of the run's time spent, by the ETA (0 while unknown). */
  runShare(fields: ProgressFields): number {
    const elapsed = this.now() - this.started;
    return fields.runEtaSeconds === null || elapsed <= 0 ? 0 : elapsed / (elapsed + fields.runEtaSeconds);
  }

  /** Rows the running stage trained in this process. */
  private stageRows(): number {
    const s = this.stage;
    return s ? s.rowsFinished + (s.inEpoch ? s.samples : 0) : 0;
  }

  /** Seconds left in the run: the running stage, the rest of its unit, then every unit after it. */
  private runEta(t: number, stageLeft: number, stageRate: number): number | null {
    const s = this.stage;
    const doneHere = this.unitRows + this.stageRows();
    const done = doneHere + this.unitRowsBefore + (s ? s.plan.epochsDone * s.plan.epochRows : 0);
    let rows = doneHere;
    let seconds = t - this.unitStarted;
    for (const m of this.measured.values()) {
      rows += m.rowsHere;
      seconds += m.seconds;
    }
    // Everything trained so far in this run, the running unit included: the rate of a model not measured yet.
    const runRate = rows / seconds;
    const rateOf = (model: string) => {
      const m = this.measured.get(model);
      return m ? m.rowsHere / m.seconds : runRate;
    };
    const rowsOf = (u: PlannedUnit) => {
      const m = this.measured.get(u.model);
      return m ? m.rows / m.units : u.plannedRows;
    };
    const unit = this.units[this.unit]!;
    const afterStage = Math.max(0, rowsOf(unit) - done - stageLeft);
    const parts = [secondsFor(stageLeft, stageRate), secondsFor(afterStage, rateOf(unit.model)), ...this.units.slice(this.unit + 1).map((u) => secondsFor(rowsOf(u), rateOf(u.model)))];
    return parts.some((p) => p === null) ? null : parts.reduce<number>((sum, p) => sum + p!, 0);
  }

  private emitLine(what: string): void {
    const fields = this.fields();
    this.emit(fields, `${describe(fields)}: ${what}; ETA stage ${formatDuration(fields.stageEtaSeconds)}, run ${formatDuration(fields.runEtaSeconds)}`);
  }

  private draw(): void {
    if (!this.bars) return;
    const fields = this.fields();
    this.bars.render(fields, this.runShare(fields));
  }
}

const roundOrNull = (x: number | null) => (x === null ? null : Math.round(x));

/** "model 3 of 14 (din), seed 1 of 2, din:train epoch 2/10" (without the run's part outside a run). */
function describe(f: ProgressFields): string {
  const run = f.model === undefined ? "" : `model ${f.modelIndex} of ${f.models} (${f.model}), seed ${f.seedIndex} of ${f.seeds}, `;
  return `${run}${f.stage} epoch ${f.epoch}/${f.epochs}`;
}

/**
 * The bars on stderr: the run's (its share of the estimated time, ETA), then the stage's running
 * epoch (rows, rate, loss, ETA). While they are drawn, log lines are handed to cli-progress, which
 * writes them above the bars at its next redraw.
 */
class Bars {
  // linewrap: log lines wrap as usual (cli-progress cuts only its bars to the terminal's width).
  private readonly multi = new cliProgress.MultiBar({ stream: process.stderr, clearOnComplete: true, hideCursor: false, linewrap: true, fps: 5, barsize: 20 });
  private readonly run: cliProgress.SingleBar | undefined;
  private readonly stage: cliProgress.SingleBar;

  constructor(inRun: boolean) {
    if (inRun) this.run = this.multi.create(1000, 0, { text: "", runEta: "–" }, { format: "{text} |{bar}| {percentage}% | run ETA {runEta}" });
    this.stage = this.multi.create(1, 0, { text: "", speed: "–", loss: "–", stageEta: "–" }, { format: "{text} |{bar}| {value}/{total} rows | {speed} samples/s | loss {loss} | stage ETA {stageEta}" });
    routeLogLines((line) => this.multi.log(line));
  }

  render(f: ProgressFields, runShare: number): void {
    this.run?.update(Math.round(runShare * 1000), {
      text: `model ${f.modelIndex} of ${f.models} (${f.model}), seed ${f.seedIndex} of ${f.seeds}`,
      runEta: formatDuration(f.runEtaSeconds),
    });
    this.stage.setTotal(Math.max(1, f.epochRows));
    this.stage.update(f.samples, {
      text: `${f.stage} epoch ${f.epoch}/${f.epochs}`,
      speed: f.samplesPerSecond === null ? "–" : f.samplesPerSecond.toLocaleString("en-US"),
      loss: f.loss === null ? "–" : f.loss.toFixed(4),
      stageEta: formatDuration(f.stageEtaSeconds),
    });
  }

  stop(): void {
    // Lines logged since the last redraw are written before the bars are cleared.
    this.multi.update();
    this.multi.stop();
    routeLogLines(undefined);
  }
}

/** Starts tracking a run of `units`, run in this order; stop() it when the run ends (also on failure). */
export function startRunProgress(units: readonly PlannedUnit[], options: RunProgressOptions): RunProgress {
  active?.stop();
  active = new RunProgress(units, options);
  return active;
}

const SILENT: StageProgress = { startEpoch: () => undefined, update: () => undefined, endEpoch: () => undefined, stop: () => undefined };

/**
 * The trainer's hook for one stage: feeds the run being tracked, if any; outside a run, a bar of
 * its own when `draw` (and stderr is a terminal), else nothing.
 */
export function stageProgress(plan: StagePlan, draw: boolean): StageProgress {
  if (active) return active.startStage(plan);
  if (!draw || !process.stderr.isTTY) return SILENT;
  return new RunProgress([], { draw: true }).startStage(plan);
}
