// `@latchkey/scripts/site`: the one site harness of the whole-stack tests and the benchmarks (issue 16 item 6). A
// subpath of its own, so the package's main entry does not load the cloud and the bridge for its other users.
export { type CloudMode, SiteHarness, type SiteHarnessOptions } from "./harness.js";
export { type RegisterSiteOptions, registerSite, type SiteRegistration, type VendorAccount } from "./provision.js";
export { mergeSettings, QUICK_CLOUD_TIMINGS, type Settings } from "./settings.js";
