export type Settings = Record<string, unknown>;

/** `extra` over `base`: plain objects merged key by key, anything else (arrays too) replaced. */
export function mergeSettings(base: Settings, extra: Settings): Settings {
  const out: Settings = { ...base };
  for (const [key, value] of Object.entries(extra)) {
    const prior = out[key];
    out[key] = isPlainObject(prior) && isPlainObject(value) ? mergeSettings(prior, value) : value;
  }
  return out;
}

function isPlainObject(v: unknown): v is Settings {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * The bridge's cloud timings for tests: a stopped cloud is noticed within seconds and retried at once when it is back,
 * where the defaults are sized for a gateway on a real network.
 */
export const QUICK_CLOUD_TIMINGS: Settings = {
  cloud: { pollWaitSeconds: 5, backoffInitialMs: 50, backoffMaxMs: 500, requestTimeoutSeconds: 5 },
};
