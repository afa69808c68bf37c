import { afterAll, beforeEach } from "vitest";
import { DATABASE_URL, dropSpareSchemas, NO_DATABASE_REASON, SUITE_ON_POSTGRES } from "./postgres.js";

// Setup file of the cloud-postgres project: without a database every test there is skipped, saying why.
if (SUITE_ON_POSTGRES && !DATABASE_URL) {
  beforeEach((ctx) => {
    ctx.skip(NO_DATABASE_REASON);
  });
}

// The emptied schemas test clouds left for the next ones (takeTestSchema) go when the file is done.
if (SUITE_ON_POSTGRES && DATABASE_URL) afterAll(dropSpareSchemas);
