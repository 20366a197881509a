import { main } from "./main.ts";

// exitCode rather than exit(): pino's pretty transport flushes asynchronously.
process.exitCode = await main(process.argv.slice(2));
