import { mkdtemp, mkdir, readdir, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { prepareDataset, type PrepareResult } from "../../src/data/prepare/index.ts";
import { datasetSpecSchema } from "../../src/spec/dataset.ts";
import { loadSpec, parseSpecText } from "../../src/spec/load.ts";
import { openDuck, queryObjects, sqlString } from "../../src/data/duck.ts";
import { UserError } from "../../src/util/errors.ts";
import { expect } from "vitest";

export async function tempDir(prefix = "mkt-test-"): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

/** Prepares a dataset spec file of the repository into `outRoot` (a fresh temp dir by default). */
export async function prepareSpecFile(file: string, outRoot?: string): Promise<PrepareResult> {
  const spec = await loadSpec(file, datasetSpecSchema);
  return prepareDataset(spec.value, spec.dir, { outRoot: outRoot ?? (await tempDir()) });
}

/** Writes files (path → content) under `dir`, then prepares the YAML spec text found at `specFile`. */
export async function prepareFixture(dir: string, files: Record<string, string>, specFile = "spec.yaml"): Promise<PrepareResult> {
  for (const [path, content] of Object.entries(files)) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), content);
  }
  const spec = parseSpecText(specFile, files[specFile]!, datasetSpecSchema);
  return prepareDataset(spec, dir, { outRoot: join(dir, "out") });
}

/**
 * Prepares files that must fail: returns the message, having checked that it is a UserError of one
 * line and that nothing half-written is left (no prepared dataset, no temporary directory).
 */
export async function prepareError(files: Record<string, string>): Promise<string> {
  const dir = await tempDir();
  const error = await prepareFixture(dir, files).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(UserError);
  const message = (error as UserError).message;
  expect(message).not.toContain("\n");
  expect(await readdir(join(dir, "out", "prepared")).catch(() => [])).toEqual([]);
  return message;
}

/** All rows of a prepared Parquet file as plain objects (bigints as numbers). */
export async function readParquetRows(file: string, select = "*"): Promise<Record<string, unknown>[]> {
  const duck = await openDuck();
  try {
    return await queryObjects(duck.con, `SELECT ${select} FROM read_parquet(${sqlString(file)})`);
  } finally {
    duck.close();
  }
}
