import { spawnSync } from "node:child_process";
import { chmod, mkdir, rm, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { MAX_MESSAGE_CHARS } from "../../src/util/errors.ts";
import { CANARY, baseFiles, caseDirs, runCli, snapshot, targetParquet, type CaseDirs, type Files } from "./fixtures.ts";

/**
 * The reliability suite: malformed inputs, one defect each (specs, flags, data files, run
 * artefacts). Every one must give exit code 2 and ONE line on stderr that names the file (or the
 * flag) and says what is wrong (field or line), never a stack trace nor the data's content, and
 * must leave nothing behind: `out/` stays empty and the inputs are unchanged.
 */

type Kind =
  | "syntax"
  | "types"
  | "unknown/missing keys"
  | "cross-field"
  | "duplicates"
  | "paths"
  | "permissions"
  | "empty/header-only/corrupted/non-UTF-8 data"
  | "bad labels"
  | "NaN/Inf"
  | "YAML alias bomb"
  | "huge files"
  | "path-like names"
  | "flags"
  | "run artefacts";

interface Case {
  /** The one defect. */
  name: string;
  kind: Kind;
  /** Changes a copy of the valid inputs (text edits must match, see `edit`). */
  files?: (files: Files) => void;
  /** Changes made on disk after the files are written (links, directories, modes). */
  setup?: (dirs: CaseDirs) => Promise<void>;
  /** The command (default: prepare the dataset spec). */
  argv?: (dirs: CaseDirs) => string[];
  /** The file or flag the line must name. */
  names: (dirs: CaseDirs) => string;
  /** What the line must say besides (the field, the line, the problem). */
  says: RegExp;
  /** Why the case cannot be meaningful here (it is skipped, and says so). */
  skipReason?: string;
}

const isRoot = process.getuid?.() === 0;

/** Replaces `from` (which must occur) in a text file of the case. */
function edit(files: Files, path: string, from: string | RegExp, to: string): void {
  const text = files[path] as string;
  const changed = text.replace(from, to);
  if (changed === text) throw new Error(`case setup: '${String(from)}' not found in ${path}`);
  files[path] = changed;
}

/** Appends a data row to a CSV table of the case. */
const addRow = (files: Files, path: string, row: string) => void (files[path] = (files[path] as string) + row + "\n");

const results = (d: CaseDirs) => join(d.out, "results");
const prepare = (d: CaseDirs, ...flags: string[]) => ["--out", results(d), ...flags, "prepare", join(d.input, "data.yaml")];
const run = (d: CaseDirs, ...flags: string[]) => ["--out", results(d), ...flags, "run", join(d.input, "exp.yaml")];
const pretrain = (d: CaseDirs) => ["--out", results(d), "pretrain", join(d.input, "exp.yaml")];
const dataSpec = (d: CaseDirs) => join(d.input, "data.yaml");
const expSpec = (d: CaseDirs) => join(d.input, "exp.yaml");
const target = (d: CaseDirs) => join(d.input, "raw", "target.csv");
const source = (d: CaseDirs) => join(d.input, "raw", "source.csv");

/** The number of the line that `row` becomes when appended to the target table. */
const NEXT_TARGET_LINE = baseFiles()["raw/target.csv"]!.toString().trim().split("\n").length + 1;

let parquet: Uint8Array;

const CASES: Case[] = [
  // ── syntax ──
  { name: "YAML that does not parse (an unclosed flow sequence)", kind: "syntax", files: (f) => edit(f, "exp.yaml", "models: [mlp]", "models: [mlp"), argv: run, names: expSpec, says: /:\d+: not valid YAML/ },
  { name: "a key given twice", kind: "syntax", files: (f) => edit(f, "data.yaml", "sequence_maxlen: 3\n", "sequence_maxlen: 3\nsequence_maxlen: 4\n"), names: dataSpec, says: /:\d+: not valid YAML: Map keys must be unique/ },
  { name: "an alias without its anchor", kind: "syntax", files: (f) => edit(f, "exp.yaml", "seeds: [1]", "seeds: *nowhere"), argv: run, names: expSpec, says: /not valid YAML/ },
  { name: "an empty spec file", kind: "syntax", files: (f) => void (f["data.yaml"] = ""), names: dataSpec, says: /: name: expected string, received undefined$/ },
  { name: "a spec that is a list, not a mapping", kind: "syntax", files: (f) => void (f["exp.yaml"] = "- name: rel\n- dataset: data.yaml\n"), argv: run, names: expSpec, says: /:1: \(top level\): expected object, received array/ },
  { name: "a spec that is not UTF-8 (Latin-1 bytes)", kind: "syntax", files: (f) => void (f["exp.yaml"] = Buffer.concat([Buffer.from(EXP_HEAD), Buffer.from([0x64, 0x65, 0x73, 0x3a, 0x20, 0xe9, 0xe8, 0x0a])])), argv: run, names: expSpec, says: /:2: not UTF-8 text/ },
  // ── types ──
  { name: "a string where a number goes", kind: "types", files: (f) => edit(f, "exp.yaml", "max_epochs: 1", "max_epochs: many"), argv: run, names: expSpec, says: /:7: training\.max_epochs: expected number, received string/ },
  { name: "a fractional seed", kind: "types", files: (f) => edit(f, "exp.yaml", "seeds: [1]", "seeds: [1.5]"), argv: run, names: expSpec, says: /:5: seeds\.0: expected an integer$/ },
  { name: "an empty layer list", kind: "types", files: (f) => edit(f, "exp.yaml", "mlp: [4]", "mlp: []"), argv: run, names: expSpec, says: /:8: sizes\.mlp: Too small/ },
  { name: "a split kind that does not exist", kind: "types", files: (f) => edit(f, "data.yaml", "by: time", "by: random"), names: dataSpec, says: /:11: split\.by: Invalid option: expected one of "time"\|"user_order"\|"user_last"$/ },
  // ── unknown / missing keys ──
  { name: "an unknown top-level field", kind: "unknown/missing keys", files: (f) => edit(f, "exp.yaml", "models:", "modles:"), argv: run, names: expSpec, says: /:3: modles: unknown field/ },
  { name: "an unknown nested field", kind: "unknown/missing keys", files: (f) => edit(f, "data.yaml", "label: { column: click }, specific: [{ name: style }]", "labels: { column: click }, specific: [{ name: style }]"), names: dataSpec, says: /:\d+: entities\.target\.labels: unknown field/ },
  { name: "a missing required field (dataset)", kind: "unknown/missing keys", files: (f) => edit(f, "exp.yaml", "dataset: data.yaml\n", ""), argv: run, names: expSpec, says: /: dataset: expected string, received undefined$/ },
  { name: "a missing entity table", kind: "unknown/missing keys", files: (f) => edit(f, "data.yaml", "table: tgt, ", ""), names: dataSpec, says: /entities\.target\.table: expected string/ },
  // ── cross-field ──
  { name: "reference_model not among models", kind: "cross-field", files: (f) => edit(f, "exp.yaml", "reference_model: mlp", "reference_model: din"), argv: run, names: expSpec, says: /:6: reference_model: 'din' is not among models \(mlp\)/ },
  { name: "cke_levels that do not end like the MLP (MKT)", kind: "cross-field", files: (f) => { edit(f, "exp.yaml", "models: [mlp]", "models: [mlp, mkt]"); edit(f, "exp.yaml", "cke_levels: [4]", "cke_levels: [8]"); }, argv: run, names: expSpec, says: /:\d+: sizes\.cke_levels: MKT needs the last of sizes\.cke_levels \(8\) equal to the last of sizes\.mlp \(4\)/ },
  { name: "cke_levels that do not end like the MLP, for mkt pretrain with MKT not among the models", kind: "cross-field", files: (f) => edit(f, "exp.yaml", "cke_levels: [4]", "cke_levels: [8]"), argv: pretrain, names: expSpec, says: /: sizes\.cke_levels: MKT needs the last of sizes\.cke_levels \(8\) equal to the last of sizes\.mlp \(4\)/ },
  { name: "CoNet with a one-layer MLP", kind: "cross-field", files: (f) => edit(f, "exp.yaml", "models: [mlp]", "models: [mlp, conet]"), argv: run, names: expSpec, says: /: sizes\.mlp: CoNet needs at least two hidden layers/ },
  { name: "split fractions summing over 1", kind: "cross-field", files: (f) => edit(f, "data.yaml", "split: { by: time, slice_seconds: 100 }", "split: { by: user_order, test_fraction: 0.6, valid_fraction: 0.5 }"), names: dataSpec, says: /: split\.valid_fraction: test_fraction \+ valid_fraction is 1\.1; it must be below 1/ },
  { name: "no label and no negative sampling", kind: "cross-field", files: (f) => edit(f, "data.yaml", "label: { column: click }, specific: [{ name: style }]", "specific: [{ name: style }]"), names: dataSpec, says: /: entities\.target\.label: required unless negatives are sampled/ },
  { name: "an entity table not defined under tables", kind: "cross-field", files: (f) => edit(f, "data.yaml", "table: tgt", "table: tgz"), names: dataSpec, says: /: entities\.target\.table: no table named 'tgz' under tables/ },
  { name: "a headerless CSV without columns", kind: "cross-field", files: (f) => edit(f, "data.yaml", "{ path: target.csv }", "{ path: target.csv, header: false }"), names: dataSpec, says: /: tables\.tgt\.columns: required with header: false/ },
  { name: "a table file whose extension does not tell its format", kind: "cross-field", files: (f) => edit(f, "data.yaml", "{ path: target.csv }", "{ path: target.dat }"), names: dataSpec, says: /: tables\.tgt\.path: cannot tell the format from the extension '\.dat'/ },
  { name: "a shared column for a field that is not shared", kind: "cross-field", files: (f) => edit(f, "data.yaml", "table: tgt, ", "table: tgt, shared_columns: { genre: cat }, "), names: dataSpec, says: /: entities\.target\.shared_columns\.genre: no shared field named 'genre'/ },
  { name: "user group thresholds out of order", kind: "cross-field", files: (f) => edit(f, "data.yaml", "sequence_maxlen: 3\n", "sequence_maxlen: 3\nuser_groups: [30, 10]\n"), names: dataSpec, says: /: user_groups\.1: thresholds must increase/ },
  { name: "no raw_dir and no generator", kind: "cross-field", files: (f) => edit(f, "data.yaml", "raw_dir: raw\n", ""), names: dataSpec, says: /: raw_dir: required without a generator/ },
  { name: "a column the spec names that the table lacks", kind: "cross-field", files: (f) => edit(f, "data.yaml", "label: { column: click }, specific: [{ name: style }]", "label: { column: clicked }, specific: [{ name: style }]"), names: dataSpec, says: /: entities\.target\.label\.column: column 'clicked' is not in .*target\.csv/ },
  // ── duplicates ──
  { name: "a seed listed twice", kind: "duplicates", files: (f) => edit(f, "exp.yaml", "seeds: [1]", "seeds: [1, 2, 1]"), argv: run, names: expSpec, says: /:5: seeds\.2: 1 is listed twice/ },
  { name: "a model listed twice", kind: "duplicates", files: (f) => edit(f, "exp.yaml", "models: [mlp]", "models: [mlp, din, mlp]"), argv: run, names: expSpec, says: /:3: models\.2: mlp is listed twice/ },
  { name: "an ablation listed twice", kind: "duplicates", files: (f) => edit(f, "exp.yaml", "ablations: []", "ablations: [wo_pdl, wo_pdl]"), argv: run, names: expSpec, says: /:4: ablations\.1: wo_pdl is listed twice/ },
  { name: "a field defined twice", kind: "duplicates", files: (f) => edit(f, "data.yaml", "shared: [{ name: category }]", "shared: [{ name: category }, { name: category }]"), names: dataSpec, says: /: shared\.1\.name: a field named 'category' is defined twice/ },
  // ── paths ──
  { name: "a spec file that does not exist", kind: "paths", argv: (d) => ["--out", results(d), "prepare", join(d.input, "nope.yaml")], names: (d) => join(d.input, "nope.yaml"), says: /: does not exist$/ },
  { name: "a spec path that is a directory", kind: "paths", argv: (d) => ["--out", results(d), "prepare", join(d.input, "raw")], names: (d) => join(d.input, "raw"), says: /: is a directory, not a file$/ },
  { name: "an experiment's dataset spec that does not exist", kind: "paths", files: (f) => edit(f, "exp.yaml", "dataset: data.yaml", "dataset: gone.yaml"), argv: run, names: expSpec, says: /: dataset: .*gone\.yaml: does not exist$/ },
  { name: "raw_dir that does not exist", kind: "paths", files: (f) => edit(f, "data.yaml", "raw_dir: raw", "raw_dir: rawr"), names: dataSpec, says: /: raw_dir: .*rawr does not exist$/ },
  { name: "a table path that is a directory", kind: "paths", setup: async (d) => { await rm(target(d)); await mkdir(target(d)); }, names: target, says: /: is a directory, not a file$/ },
  { name: "a table path that is a dangling symbolic link", kind: "paths", setup: async (d) => { await rm(target(d)); await symlink(join(d.input, "raw", "moved-away.csv"), target(d)); }, names: target, says: /: is a symbolic link to a file that does not exist$/ },
  { name: "a table file that does not exist", kind: "paths", files: (f) => edit(f, "data.yaml", "path: target.csv", "path: targets.csv"), names: (d) => join(d.input, "raw", "targets.csv"), says: /: does not exist$/ },
  {
    name: "a generator spec naming a table the generator does not write (the generated tables are removed again)",
    kind: "paths",
    files: (f) => edit(f, "gen.yaml", "{ path: users.parquet }", "{ path: user.parquet }"),
    argv: (d) => ["--out", results(d), "prepare", join(d.input, "gen.yaml")],
    names: (d) => join(results(d), "raw", "gen", "user.parquet"),
    says: /: does not exist$/,
  },
  // ── permissions ──
  { name: "an unreadable data file (mode 000)", kind: "permissions", setup: async (d) => chmod(target(d), 0o000), names: target, says: /: cannot be read \(permission denied\)$/, skipReason: isRoot ? "running as root, which reads a mode-000 file; the directory and dangling-link cases cover unreadable tables" : undefined },
  { name: "an unreadable spec file (mode 000)", kind: "permissions", setup: async (d) => chmod(dataSpec(d), 0o000), names: dataSpec, says: /: cannot be read \(permission denied\)$/, skipReason: isRoot ? "running as root, which reads a mode-000 file; the spec-is-a-directory case covers an unreadable spec" : undefined },
  { name: "--out under a directory that is not writable (mode 555)", kind: "permissions", setup: async (d) => chmod(d.out, 0o555), names: () => "--out", says: /is not writable \(permission denied\)$/, skipReason: isRoot ? "running as root, which writes into a mode-555 directory; the --out-is-a-file cases cover an unusable --out" : undefined },
  // ── empty / header-only / corrupted / non-UTF-8 data ──
  { name: "an empty data file", kind: "empty/header-only/corrupted/non-UTF-8 data", files: (f) => void (f["raw/target.csv"] = ""), names: target, says: /: raw table 'tgt' is empty$/ },
  { name: "a header-only data file", kind: "empty/header-only/corrupted/non-UTF-8 data", files: (f) => void (f["raw/target.csv"] = "user_id,item_id,ts,click,style,category\n"), names: target, says: /: raw table 'tgt' has no data rows$/ },
  { name: "non-UTF-8 bytes in a data row", kind: "empty/header-only/corrupted/non-UTF-8 data", files: (f) => void (f["raw/target.csv"] = Buffer.concat([Buffer.from(f["raw/target.csv"] as string), Buffer.from(`u1,t1,550,1,${CANARY}`), Buffer.from([0xff, 0xfe]), Buffer.from(",c1\n")])), names: target, says: new RegExp(`: line ${NEXT_TARGET_LINE}, column style: row does not parse \\(invalid encoding\\)$`) },
  { name: "an unterminated CSV quote", kind: "empty/header-only/corrupted/non-UTF-8 data", files: (f) => addRow(f, "raw/target.csv", `u1,"t1,550,1,${CANARY},c1`), names: target, says: new RegExp(`: line ${NEXT_TARGET_LINE}: a quoted value is never closed`) },
  { name: "a row with an extra column", kind: "empty/header-only/corrupted/non-UTF-8 data", files: (f) => addRow(f, "raw/target.csv", `u1,t1,550,1,${CANARY},c1,extra`), names: target, says: new RegExp(`: line ${NEXT_TARGET_LINE}: row does not parse \\(too many columns\\)$`) },
  { name: "a truncated Parquet file", kind: "empty/header-only/corrupted/non-UTF-8 data", files: (f) => useParquet(f, parquet.subarray(0, Math.floor(parquet.length / 2))), names: (d) => join(d.input, "raw", "target.parquet"), says: /: not a Parquet file \(truncated or corrupted/ },
  { name: "a Parquet file with a corrupted footer", kind: "empty/header-only/corrupted/non-UTF-8 data", files: (f) => useParquet(f, corruptFooter(parquet)), names: (d) => join(d.input, "raw", "target.parquet"), says: /: not a readable Parquet file \(corrupted\)$/ },
  { name: "a CSV file named .parquet", kind: "empty/header-only/corrupted/non-UTF-8 data", files: (f) => useParquet(f, Buffer.from(f["raw/target.csv"] as string)), names: (d) => join(d.input, "raw", "target.parquet"), says: /: not a Parquet file/ },
  { name: "a missing item id", kind: "empty/header-only/corrupted/non-UTF-8 data", files: (f) => addRow(f, "raw/target.csv", `u1,,550,1,${CANARY},c1`), names: target, says: new RegExp(`: line ${NEXT_TARGET_LINE}, column item_id: missing item id$`) },
  // ── bad labels ──
  { name: "a label that is not 0/1", kind: "bad labels", files: (f) => addRow(f, "raw/target.csv", `u1,t1,550,2,${CANARY},c1`), names: target, says: new RegExp(`: line ${NEXT_TARGET_LINE}, column click: label is not 0/1$`) },
  { name: "an all-positive target log", kind: "bad labels", files: (f) => void (f["raw/target.csv"] = (f["raw/target.csv"] as string).replace(/^(u\d+,t\d+,\d+),0,/gm, "$1,1,")), names: target, says: /: column click: every row is a positive; the target log needs both labels/ },
  { name: "a target log without a positive", kind: "bad labels", files: (f) => void (f["raw/target.csv"] = (f["raw/target.csv"] as string).replace(/^(u\d+,t\d+,\d+),1,/gm, "$1,0,")), names: target, says: /: column click: no row is a positive; the target log needs both labels/ },
  { name: "a target test split without a click", kind: "bad labels", files: (f) => void (f["raw/target.csv"] = (f["raw/target.csv"] as string).replace(/^(u\d+,t\d+,5\d\d),1,/gm, "$1,0,")), names: dataSpec, says: /: split: the target test split has no positive rows \(of 8\)/ },
  { name: "a source log entirely in the target's valid and test time", kind: "cross-field", files: (f) => void (f["raw/source.csv"] = (f["raw/source.csv"] as string).replace(/^(u\d+,s\d+),\d+,/gm, "$1,450,")), names: dataSpec, says: /: split: the source training split is empty/ },
  { name: "a label rule on a non-numeric label", kind: "bad labels", files: (f) => { edit(f, "data.yaml", "label: { column: click }, specific: [{ name: style }]", 'label: { column: click, rule: ">= 1" }, specific: [{ name: style }]'); addRow(f, "raw/target.csv", `u1,t1,550,yes,${CANARY},c1`); }, names: target, says: new RegExp(`: line ${NEXT_TARGET_LINE}, column click: label is not a finite number$`) },
  // ── NaN / Inf ──
  { name: "NaN in the time column", kind: "NaN/Inf", files: (f) => addRow(f, "raw/target.csv", `u1,t1,NaN,1,${CANARY},c1`), names: target, says: new RegExp(`: line ${NEXT_TARGET_LINE}, column ts: time is not a finite number or a timestamp$`) },
  { name: "Infinity in a numeric field", kind: "NaN/Inf", files: (f) => addRow(f, "raw/source.csv", "u1,s1,550,1,inf,c1"), names: source, says: /: line \d+, column price: price is not a number$/ },
  { name: "NaN as a label under a rule", kind: "NaN/Inf", files: (f) => { edit(f, "data.yaml", "label: { column: click }, specific: [{ name: style }]", 'label: { column: click, rule: ">= 1" }, specific: [{ name: style }]'); addRow(f, "raw/target.csv", `u1,t1,550,nan,${CANARY},c1`); }, names: target, says: /column click: label is not a finite number$/ },
  // ── YAML alias bomb ──
  { name: "a YAML alias bomb (billion laughs)", kind: "YAML alias bomb", files: (f) => edit(f, "exp.yaml", "seeds: [1]\n", `seeds: [1]\n${aliasBomb()}`), argv: run, names: expSpec, says: /: YAML aliases \(\*name\) expand too far/ },
  // ── huge files ──
  { name: "a 10 MB spec", kind: "huge files", files: (f) => void (f["exp.yaml"] = `${f["exp.yaml"] as string}description: "${"x".repeat(10 * 1024 * 1024)}"\n`), argv: run, names: expSpec, says: /: the spec file has \d{8} bytes; a spec has at most 1048576 / },
  { name: "a 10 000-character unknown key (an explicit YAML key)", kind: "huge files", files: (f) => edit(f, "exp.yaml", "seeds: [1]", `seeds: [1]\n? ${"k".repeat(10_000)}\n: 1`), argv: run, names: expSpec, says: /:7: 'k+…': unknown field/ },
  { name: "a 3 MB data row", kind: "huge files", files: (f) => addRow(f, "raw/target.csv", `u1,t1,550,1,${CANARY.repeat(300_000)},c1`), names: target, says: new RegExp(`: line ${NEXT_TARGET_LINE}: longer than 2000000 bytes`) },
  // ── path-like names ──
  { name: "a dataset name that is a path", kind: "path-like names", files: (f) => edit(f, "data.yaml", "name: rel", "name: ../../escape"), names: dataSpec, says: /:1: name: expected a lower-case name/ },
  { name: "an experiment name with a slash", kind: "path-like names", files: (f) => edit(f, "exp.yaml", "name: rel", "name: a/b"), argv: run, names: expSpec, says: /:1: name: expected a lower-case name/ },
  { name: "a field name that is a path", kind: "path-like names", files: (f) => edit(f, "data.yaml", "{ name: category }", "{ name: ../category }"), names: dataSpec, says: /: shared\.0\.name: expected a lower-case name/ },
  { name: "a table name that is a path", kind: "path-like names", files: (f) => { edit(f, "data.yaml", "tgt: { path", "../tgt: { path"); edit(f, "data.yaml", "table: tgt", "table: ../tgt"); }, names: dataSpec, says: /: tables\.'\.\.\/tgt': expected a table name/ },
  { name: "a 10 000-character experiment name", kind: "path-like names", files: (f) => edit(f, "exp.yaml", "name: rel", `name: ${"a".repeat(10_000)}`), argv: run, names: expSpec, says: /:1: name: Too big: expected string to have <=64 characters/ },
  { name: "a table path with a NUL byte", kind: "path-like names", files: (f) => edit(f, "data.yaml", "{ path: target.csv }", '{ path: "target\\0.csv" }'), names: dataSpec, says: /: tables\.tgt\.path: expected a path without control characters/ },
  // ── flags ──
  { name: "--workers 0", kind: "flags", argv: (d) => run(d, "--workers", "0"), names: () => "--workers", says: /argument '0' is invalid\. expected a positive integer or 'auto'/ },
  { name: "--workers that is not a number", kind: "flags", argv: (d) => run(d, "--workers", "many"), names: () => "--workers", says: /argument 'many' is invalid/ },
  { name: "an unknown --backend", kind: "flags", argv: (d) => run(d, "--backend", "tpu"), names: () => "--backend", says: /Allowed choices are auto, gpu, node, wasm, cpu/ },
  { name: "a bogus --log-level", kind: "flags", argv: (d) => run(d, "--log-level", "bogus"), names: () => "--log-level", says: /argument 'bogus' is invalid\. Allowed choices are trace/ },
  { name: "--out naming a regular file", kind: "flags", setup: async (d) => writeFile(join(d.out, "results"), "a file"), argv: (d) => run(d), names: () => "--out", says: /results: is a file, not a directory$/, },
  { name: "--out under a regular file", kind: "flags", setup: async (d) => writeFile(join(d.out, "file"), "a file"), argv: (d) => ["--out", join(d.out, "file", "results"), "run", join(d.input, "exp.yaml")], names: () => "--out", says: /a part of the path is not a directory$/ },
  { name: "an empty --out", kind: "flags", argv: (d) => ["--out", "", "run", join(d.input, "exp.yaml")], names: () => "--out", says: /expected a directory, got an empty path/ },
  { name: "--seed not among the spec's seeds (nothing prepared first)", kind: "flags", argv: (d) => [...run(d), "--seed", "7"], names: () => "--seed 7", says: /not one of the spec's seeds \(1\)$/ },
  { name: "an unknown option", kind: "flags", argv: (d) => run(d, "--frobnicate"), names: () => "--frobnicate", says: /unknown option '--frobnicate'/ },
  // ── run artefacts ──
  { name: "a report of a directory that is not a run", kind: "run artefacts", argv: (d) => ["report", join(d.input, "raw")], names: (d) => join(d.input, "raw", "experiment.json"), says: /: cannot read it: is .* a run directory/ },
  { name: "a run whose experiment.json is corrupted", kind: "run artefacts", files: (f) => void (f["run/experiment.json"] = '{"specFile": "exp.yaml", "spec": {'), argv: (d) => ["report", join(d.input, "run"), "--to", join(d.out, "report")], names: (d) => join(d.input, "run", "experiment.json"), says: /: not a valid experiment record/ },
];

/** The first line of the experiment spec, for the case that replaces the rest. */
const EXP_HEAD = "name: rel\n";

/** Nine levels of nine aliases: 9^9 nodes if expanded. */
function aliasBomb(): string {
  const lines = ["bomb:", '  a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
  const names = "abcdefghi";
  for (let k = 1; k < names.length; k++) lines.push(`  ${names[k]}: &${names[k]} [${Array(9).fill(`*${names[k - 1]}`).join(",")}]`);
  return lines.join("\n") + "\n";
}

/** The target table as a Parquet file with these bytes. */
function useParquet(files: Files, bytes: Uint8Array): void {
  delete files["raw/target.csv"];
  files["raw/target.parquet"] = bytes;
  edit(files, "data.yaml", "{ path: target.csv }", "{ path: target.parquet }");
}

/** The Parquet bytes with the footer's metadata overwritten (its length and the PAR1 markers kept). */
function corruptFooter(bytes: Uint8Array): Uint8Array {
  const copy = Buffer.from(bytes);
  const footerLength = copy.readUInt32LE(copy.length - 8);
  copy.fill(0xab, copy.length - 8 - footerLength, copy.length - 8);
  return copy;
}

describe("reliability: malformed inputs are refused with exit 2, one line naming the file, nothing written", () => {
  beforeAll(async () => {
    parquet = await targetParquet();
  });

  it("covers every class of the issue with at least 40 cases", () => {
    expect(CASES.length).toBeGreaterThanOrEqual(40);
    const kinds = new Set(CASES.map((c) => c.kind));
    for (const kind of ["syntax", "types", "unknown/missing keys", "cross-field", "duplicates", "paths", "permissions", "empty/header-only/corrupted/non-UTF-8 data", "bad labels", "NaN/Inf", "YAML alias bomb", "huge files", "path-like names"] as Kind[]) {
      expect(kinds, kind).toContain(kind);
    }
  });

  it("the valid inputs are accepted (so each case's one defect is what is refused): prepare, a generator spec, a whole run", async () => {
    const dirs = await caseDirs(baseFiles());
    expect(await runCli(prepare(dirs))).toMatchObject({ code: 0, stderr: "" });
    expect(await runCli(["--out", results(dirs), "prepare", join(dirs.input, "gen.yaml")])).toMatchObject({ code: 0, stderr: "" });
    expect(await runCli(run(dirs, "--backend", "cpu"))).toMatchObject({ code: 0, stderr: "" });
    // And the same inputs with Parquet instead of CSV.
    const files = baseFiles();
    useParquet(files, parquet);
    const parquetDirs = await caseDirs(files);
    expect(await runCli(prepare(parquetDirs))).toMatchObject({ code: 0, stderr: "" });
  });

  for (const c of CASES) {
    it.skipIf(c.skipReason !== undefined)(`${c.kind}: ${c.name}${c.skipReason ? ` (skipped: ${c.skipReason})` : ""}`, async () => {
      const files = baseFiles();
      c.files?.(files);
      const dirs = await caseDirs(files);
      await c.setup?.(dirs);
      const inputsBefore = await snapshot(dirs.input);
      const outBefore = await snapshot(dirs.out);
      const { code, stdout, stderr } = await runCli((c.argv ?? prepare)(dirs));
      const lines = stderr.split("\n").filter((l) => l !== "");
      expect(lines, stderr).toHaveLength(1);
      const line = lines[0]!;
      expect(code, line).toBe(2);
      expect(stdout).toBe("");
      expect(line.startsWith("mkt: ")).toBe(true);
      expect(line).not.toMatch(/internal error|\bat .*:\d+:\d+\)?$|Error:/);
      expect(line.length).toBeLessThanOrEqual(MAX_MESSAGE_CHARS + "mkt: ".length);
      expect(line).toContain(c.names(dirs));
      expect(line).toMatch(c.says);
      // The data's content is never quoted (the canary is only in data rows).
      expect(line).not.toContain(CANARY);
      // Nothing written: out/ as it was (empty unless the case put something there), inputs unchanged.
      expect(await snapshot(dirs.out)).toEqual(outBefore);
      expect(await snapshot(dirs.input)).toEqual(inputsBefore);
      await chmod(dirs.out, 0o755);
    });
  }
});

describe("reliability: the real process", () => {
  it("bin/mkt prints one line and exits 2 on a YAML alias bomb and on a bad flag", async () => {
    const files = baseFiles();
    edit(files, "exp.yaml", "seeds: [1]\n", `seeds: [1]\n${aliasBomb()}`);
    const dirs = await caseDirs(files);
    for (const argv of [run(dirs), ["--workers", "0", "run", join(dirs.input, "exp.yaml")]]) {
      const result = spawnSync("node", ["bin/mkt", ...argv], { encoding: "utf8", timeout: 300_000 });
      expect(result.status, result.stderr).toBe(2);
      expect(result.stderr.trim().split("\n"), result.stderr).toHaveLength(1);
      expect(result.stderr).toMatch(/^mkt: .*(exp\.yaml: YAML aliases|--workers)/);
    }
    expect(await snapshot(dirs.out)).toEqual([]);
  });
});
