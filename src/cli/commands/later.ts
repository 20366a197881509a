import type { Command } from "commander";
import { experimentSpecSchema } from "../../spec/experiment.ts";
import { loadSpec } from "../../spec/load.ts";
import { NotImplementedYet } from "../../util/errors.ts";
import { globalOptions } from "../options.ts";

/** Commands whose models land in later issues: they validate their spec, then say so and exit 3. */
const LATER: { name: string; argument: string; description: string; issue: string }[] = [
  { name: "baselines", argument: "<experiment-spec>", description: "train and evaluate the ten baselines", issue: "issue 4 (the ten baselines)" },
];

export function registerLaterCommands(program: Command): void {
  for (const later of LATER) {
    program
      .command(later.name)
      .description(later.description)
      .argument(later.argument, "experiment spec (experiments/*.yaml)")
      .action(async (file: string, _options: unknown, command: Command) => {
        globalOptions(command);
        await loadSpec(file, experimentSpecSchema);
        throw new NotImplementedYet(later.name, later.issue);
      });
  }

}
