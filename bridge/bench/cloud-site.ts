/**
 * What a benchmark needs of a site registered in a running cloud: the bridge's registration and the vendor account it
 * serves the site's `sim` connection with. The bridge package never imports the cloud or its API clients: whoever runs
 * the bench registers the site (`npm run bench` through scripts' site harness and its typed Integrator API client).
 */
export interface BenchSite {
  cloudUrl: string;
  bridgeId: string;
  bridgeSecret: string;
  vendor: { vendor: "sim"; username: string; password: string };
}

/** Registers a fresh site named `name` (a lock holder, a bridge and the connection it serves) in the cloud under test. */
export type RegisterBenchSite = (name: string) => Promise<BenchSite>;
