import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { scrape } from "../src/reliability/metrics.js";
import { ReliabilityFile } from "../src/reliability/per-file.js";
import { lintExposition } from "../src/reliability/promlint.js";
import { ReliabilitySite } from "../src/reliability/site.js";

/**
 * Issue 15, the gateway operator's first day, through the real processes: the bridge's /metrics as promtool reads it.
 * Needs `tsc -b` first (the bins run from dist/), as `npm test` does.
 */
const file = new ReliabilityFile("review-operator");
const { tally, logs, secrets } = file;
const run = promisify(execFile);

/** promtool itself when installed (Debian's `prometheus` package); the lint rules above do not depend on it. */
async function promtool(text: string): Promise<{ code: number; output: string } | null> {
  try {
    await run("promtool", ["--version"]);
  } catch {
    return null;
  }
  return new Promise((resolve) => {
    const child = execFile("promtool", ["check", "metrics"], (error, stdout, stderr) =>
      resolve({ code: error ? Number(error.code ?? 1) : 0, output: stdout + stderr }),
    );
    child.stdin?.end(text);
  });
}

describe("issue 15.8: the bridge's /metrics passes promtool's rules", () => {
  it("every family of a running bridge process has HELP and TYPE, counters and only counters end in _total", async () => {
    tally.case("review 15.8: a metric name promtool check metrics refuses (gauges ending in _total)");
    const site = await ReliabilitySite.start(file.resources, logs, secrets, { seed: "operator-metrics" });
    const bridge = await site.startBridgeProcess();
    await bridge.child.waitForLog("change feed caught up", () => true, { timeoutMs: 60_000 });
    const text = await scrape(site.metricsUrl);
    tally.input();
    expect(text).toContain("# TYPE latchkey_bridge_outbox_items gauge");
    expect(lintExposition(text)).toEqual([]);
    const checked = await promtool(text);
    if (checked) expect(checked, checked.output).toMatchObject({ code: 0 });
  });
});
