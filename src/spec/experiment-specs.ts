/**
 * Loading an experiment spec with its dataset spec: apart from run/experiment.ts (which prepares
 * datasets, with DuckDB), so that checking a spec loads neither DuckDB nor tfjs and answers at once.
 */
import { resolve } from "node:path";
import { UserError } from "../util/errors.ts";
import { readableFileSize } from "../util/files.ts";
import { datasetSpecSchema, type DatasetSpec } from "./dataset.ts";
import { experimentSpecFileSchemaFor, type ExperimentSpec } from "./experiment.ts";
import { loadSpec, type LoadedSpec } from "./load.ts";

export interface ExperimentSpecs {
  experiment: LoadedSpec<ExperimentSpec>;
  dataset: LoadedSpec<DatasetSpec>;
}

/**
 * The experiment spec and the dataset spec it names, each validated and the two together; reads
 * nothing else and writes nothing. `alsoTrains`: models the command trains whatever the spec lists,
 * whose rules are checked too.
 */
export async function loadExperimentSpecs(file: string, alsoTrains: readonly string[] = []): Promise<ExperimentSpecs> {
  const experiment = await loadSpec(file, experimentSpecFileSchemaFor(alsoTrains));
  const datasetFile = resolve(experiment.dir, experiment.value.dataset);
  // A dataset spec that is not there is named with the spec that points at it.
  await readableFileSize(datasetFile).catch((error: unknown) => {
    throw error instanceof UserError ? new UserError(`${file}: dataset: ${error.message}`) : error;
  });
  const dataset = await loadSpec(datasetFile, datasetSpecSchema);
  return { experiment, dataset };
}
