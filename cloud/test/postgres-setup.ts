import { beforeEach } from "vitest";
import { DATABASE_URL, NO_DATABASE_REASON, SUITE_ON_POSTGRES } from "./postgres.js";

// Setup file of the cloud-postgres project: without a database every test there is skipped, saying why.
if (SUITE_ON_POSTGRES && !DATABASE_URL) {
  beforeEach((ctx) => {
    ctx.skip(NO_DATABASE_REASON);
  });
}
