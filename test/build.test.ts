import { mkdir, rm, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { DIGEST_FILE, STAMP_FILE, distIsCurrent as current, sourceDigest as digest, sourceStamp as stamp } from "../scripts/source-digest.mjs";
import { tempDir } from "./helpers/prepared.ts";

describe("bin/mkt runs dist/ only when it was built from the sources as they are", () => {
  it("no build, a build of these sources, then an edited, an added and a removed source file", async () => {
    const root = await tempDir();
    await mkdir(join(root, "src", "cli"), { recursive: true });
    await writeFile(join(root, "src", "cli", "run.ts"), "export {};\n");
    await writeFile(join(root, "tsconfig.json"), "{}\n");
    await mkdir(join(root, "scripts"));
    await writeFile(join(root, "scripts", "bundle.mjs"), "export {};\n");
    expect(current(root)).toBe(false);

    // What scripts/build.mjs writes last, after bundling.
    const build = async () => {
      await mkdir(join(root, "dist"), { recursive: true });
      await writeFile(join(root, "dist", STAMP_FILE), stamp(root));
      await writeFile(join(root, "dist", DIGEST_FILE), `${digest(root)}\n`);
    };
    await build();
    expect(current(root)).toBe(true);

    // Touched, not changed (a checkout, an editor saving the same text): the content decides.
    await utimes(join(root, "src", "cli", "run.ts"), new Date(), new Date(Date.now() + 5_000));
    expect(current(root)).toBe(true);
    // Changed to text of the same length: the stamp differs by the modification time alone.
    await writeFile(join(root, "src", "cli", "run.ts"), "export{ };\n");
    expect(current(root)).toBe(false);
    await build();
    await writeFile(join(root, "src", "cli", "run.ts"), "export const edited = 1;\n");
    expect(current(root)).toBe(false);
    await build();
    await writeFile(join(root, "src", "cli", "new.ts"), "export {};\n");
    expect(current(root)).toBe(false);
    await build();
    await rm(join(root, "src", "cli", "new.ts"));
    expect(current(root)).toBe(false);
    await build();
    await writeFile(join(root, "scripts", "bundle.mjs"), "export const edited = 1;\n");
    expect(current(root)).toBe(false);
  });
});
