// Entry of a replica worker thread: registers tsx's loader (the worker does not inherit the main
// thread's) so the TypeScript sources load as they do under bin/mkt, then starts the worker.
import { register } from "tsx/esm/api";

register();
await import("./worker.ts");
