/** Regenerates the `.wasm.ts` module of every WAT source (scripts/wasm.ts). Usage: npm run build:wasm */
import { writeFile } from "node:fs/promises";
import { compileWat, generatedModule, generatedPath, WAT_SOURCES } from "./wasm.ts";

for (const source of WAT_SOURCES) {
  const bytes = await compileWat(source);
  await writeFile(generatedPath(source), generatedModule(source, bytes));
  console.log(`${source}: ${bytes.length} bytes -> ${generatedPath(source)}`);
}
