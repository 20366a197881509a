import { mainFixture } from "./test/report/fixtures.ts";
import { writeReport } from "./src/report/index.ts";
const dir = await mainFixture();
const r = await writeReport(dir);
console.log(r.markdown);
