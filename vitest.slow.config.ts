import { SLOW_TESTS, testConfig } from "./vitest.config.ts";

// `npm run test:slow`: the slow tier (see vitest.config.ts).
export default testConfig(SLOW_TESTS, [], 1_200_000);
