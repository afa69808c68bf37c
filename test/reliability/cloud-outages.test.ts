import type { LockOptions, SimLock } from "@latchkey/lock-sim";
import { ManualClock } from "@latchkey/protocol";
import { pollUntil } from "@latchkey/scripts";
import { describe, expect, it } from "vitest";
import { expectEveryEventOnce } from "../src/reliability/delivery.js";
import { deniedAttempt } from "../src/reliability/events.js";
import { FaultProxy } from "../src/reliability/fault-proxy.js";
import { maxAttemptsWithBackoff, metricValue, scrape } from "../src/reliability/metrics.js";
import { ReliabilityFile } from "../src/reliability/per-file.js";
import { ReliabilitySite, type ReliabilitySiteOptions } from "../src/reliability/site.js";

/**
 * The cloud misbehaves and the bridge (in this process, so it can run on simulated time) must keep serving its locks,
 * retry with backoff rather than hammer, keep everything within its outbox policy, and deliver by itself once the
 * cloud is back: each event once, none lost. Locks seal their events as reports and free them only up to the `ack`
 * of a signed state (docs/design.md section 7), so even what the outbox policy drops is sent again by its lock.
 */
const file = new ReliabilityFile("cloud-outages");
const { tally, logs, secrets } = file;

async function siteWithLocks(
  count: number,
  options: ReliabilitySiteOptions,
  bridge: Record<string, unknown>,
  lockOptions: Partial<LockOptions> = {},
): Promise<{ site: ReliabilitySite; locks: SimLock[] }> {
  const site = await ReliabilitySite.start(file.resources, logs, secrets, options);
  await site.startBridge(bridge);
  await site.bridge!.ready;
  const locks: SimLock[] = [];
  for (let i = 0; i < count; i++) locks.push(await site.startLock(`${options.seed}-lock-${i}`, lockOptions));
  await pollUntil(
    "the locks assigned to the bridge",
    async () => (await site.client.listLocks(site.lockHolderId)).locks.length === count,
    { timeoutMs: 60_000 },
  );
  // Claimed, each runs a signed state (its report key) and signed time: from here its events leave as reports.
  for (const lock of locks) await site.waitForTrust(lock);
  return { site, locks };
}

/** Every event in the cloud once, then the bridge's outbox empty. */
async function expectAllDelivered(site: ReliabilitySite, locks: SimLock[]): Promise<void> {
  await expectEveryEventOnce(site, locks, tally);
  await pollUntil("the outbox drained", () => site.bridge!.outbox().items === 0, { timeoutMs: 30_000 });
}

let attempt = 0;
const attempts = (locks: SimLock[], perLock: number) => {
  for (const lock of locks) for (let i = 0; i < perLock; i++) deniedAttempt(lock, attempt++);
};

describe("the cloud fails, the bridge carries on", () => {
  it("500s, then timeouts, then cut connections: the bridge backs off and delivers everything once the cloud answers", async () => {
    const backoff = { backoffInitialMs: 100, backoffMaxMs: 800 };
    const site = await ReliabilitySite.start(file.resources, logs, secrets, { seed: "proxy" });
    const realProxy = new FaultProxy(site.apiUrl);
    await realProxy.listen();
    file.resources.defer("close the fault proxy", () => realProxy.close());
    await site.startBridge({ cloud: { url: realProxy.url, requestTimeoutSeconds: 1, ...backoff } });
    await site.bridge!.ready;
    const locks = [await site.startLock("proxy-lock-0"), await site.startLock("proxy-lock-1")];
    await pollUntil(
      "the locks assigned",
      async () => (await site.client.listLocks(site.lockHolderId)).locks.length === 2,
    );
    for (const lock of locks) await site.waitForTrust(lock);

    for (const mode of ["error500", "hang", "reset"] as const) {
      const ingests = () => realProxy.count("/bridge/v1/reports");
      const before = ingests();
      const started = Date.now();
      realProxy.set(mode);
      attempts(locks, 10);
      // The bridge took them (PUBACK after its outbox commit); the locks keep them until a signed ack.
      for (const lock of locks) await lock.waitForDelivered({ timeoutMs: 30_000 });
      await pollUntil(`uploads refused by "${mode}"`, () => ingests() - before >= 2, { timeoutMs: 60_000 });
      const tried = ingests() - before;
      expect(tried, `uploads during "${mode}"`).toBeLessThanOrEqual(
        maxAttemptsWithBackoff(Date.now() - started, backoff.backoffInitialMs, backoff.backoffMaxMs),
      );
      const health = site.bridge!.health();
      expect(health.ok, "the bridge still serves its locks").toBe(true);
      expect(String((health.upload as { lastError: string }).lastError)).toMatch(/reports/);
    }
    tally.fault(realProxy.total);
    realProxy.set("pass");
    await expectAllDelivered(site, locks);
    const metrics = await scrape(site.bridge!.metricsUrl!);
    // At least the two refused uploads each mode waited for were counted as retries.
    expect(metricValue(metrics, "latchkey_bridge_upload_batches_total", { result: "retry" })).toBeGreaterThanOrEqual(6);
  });

  it("the cloud unreachable for 48 simulated hours: outbox ages, the bridge retries within its backoff, then catches up alone", async () => {
    const clock = new ManualClock(1_800_000_000_000);
    const backoff = { backoffInitialMs: 20, backoffMaxMs: 200 };
    // Two upload lanes (the default, docs/mqtt.md "Upload"): an attempt sends each lane's batch, so a cloud that is
    // down fails up to one request per lane per attempt; the attempts themselves keep to the backoff.
    const lanes = 2;
    const { site, locks } = await siteWithLocks(2, { seed: "outage48", clock }, { cloud: backoff, upload: { lanes } });
    attempts(locks, 3);
    await expectAllDelivered(site, locks);

    await site.stopCloud();
    tally.fault();
    const started = Date.now();
    // An upload attempt sends the reports of a batch, then (when those went) its presence: one failure per attempt.
    const uploadErrors = async () => {
      const metrics = await scrape(site.bridge!.metricsUrl!);
      return (
        metricValue(metrics, "latchkey_bridge_cloud_errors_total", { operation: "reports" }) +
        metricValue(metrics, "latchkey_bridge_cloud_errors_total", { operation: "ingest" })
      );
    };
    const errorsBefore = await uploadErrors();
    for (let hour = 0; hour < 48; hour++) {
      clock.advance(3_600_000);
      attempts(locks, 2);
      // Stored in the bridge's outbox at this hour of simulated time (each hour also brings every event above the
      // locks' last ack again, under a new counter: the locks' re-send rule).
      for (const lock of locks) await lock.waitForDelivered({ timeoutMs: 30_000 });
    }
    const ingestErrors = async () => (await uploadErrors()) - errorsBefore;
    await pollUntil("repeated upload failures", async () => (await ingestErrors()) >= 10, { timeoutMs: 60_000 });
    const failed = await ingestErrors();
    expect(failed).toBeLessThanOrEqual(
      lanes * maxAttemptsWithBackoff(Date.now() - started, backoff.backoffInitialMs, backoff.backoffMaxMs),
    );
    tally.fault(failed);
    const metrics = await scrape(site.bridge!.metricsUrl!);
    // Simulated time: the oldest waiting event is two days old, and still within maxAgeHours (30 days), so kept.
    expect(metricValue(metrics, "latchkey_bridge_outbox_oldest_age_seconds")).toBeGreaterThanOrEqual(47 * 3600);
    expect(metricValue(metrics, "latchkey_bridge_outbox_dropped_total")).toBe(0);
    expect(site.bridge!.health().ok).toBe(true);

    // Back after two days: the bridge's access token expired meanwhile by the cloud's clock; it logs in again by itself.
    await site.startCloud();
    await expectAllDelivered(site, locks);
  });
});

describe("the outbox fills up while the cloud is away: the configured policy, counted", () => {
  it("fullPolicy refuse: new events get no PUBACK and stay in the locks; nothing lost once the cloud is back", async () => {
    const { site, locks } = await siteWithLocks(2, { seed: "refuse" }, { outbox: { maxItems: 40 } });
    await site.stopCloud();
    tally.fault();
    attempts(locks, 30);
    const refused = async () =>
      metricValue(await scrape(site.bridge!.metricsUrl!), "latchkey_bridge_outbox_refused_total");
    await pollUntil("the bridge refusing events", async () => (await refused()) > 0, { timeoutMs: 30_000 });
    const metrics = await scrape(site.bridge!.metricsUrl!);
    expect(metricValue(metrics, "latchkey_bridge_outbox_full")).toBe(1);
    expect(site.bridge!.outbox().items).toBeLessThanOrEqual(40);
    expect(
      locks.reduce((n, l) => n + l.undelivered, 0),
      "events the bridge did not take, kept by the locks",
    ).toBeGreaterThan(0);
    expect(site.bridge!.health().ok).toBe(true);
    tally.refuse(await refused());

    await site.startCloud();
    await expectAllDelivered(site, locks);
  });

  it("fullPolicy drop-oldest: the oldest go, counted in the metric and logged; their locks send them again, so all arrive once", async () => {
    const { site, locks } = await siteWithLocks(
      2,
      { seed: "dropoldest" },
      { outbox: { maxItems: 40, fullPolicy: "drop-oldest" } },
      // The lock's re-send interval (600 s by default) short enough for this test's real time.
      { resendSeconds: 2 },
    );
    await site.stopCloud();
    tally.fault();
    attempts(locks, 30);
    for (const lock of locks) await lock.waitForDelivered({ timeoutMs: 30_000 });
    const metrics = await scrape(site.bridge!.metricsUrl!);
    const dropped = metricValue(metrics, "latchkey_bridge_outbox_dropped_total", { reason: "full" });
    expect(dropped).toBeGreaterThanOrEqual(20);
    expect(logs.records("outbox full: dropped the oldest items (fullPolicy drop-oldest)").length).toBeGreaterThan(0);
    // The bridge's word freed nothing: every event is still in its lock's ring, above the last signed ack.
    const kept = locks.reduce((n, l) => n + l.unacknowledged, 0);
    expect(kept).toBeGreaterThanOrEqual(60);

    await site.startCloud();
    // Before issue 13 what the policy dropped was gone (counted); now the locks re-seal what no signed ack covers
    // and publish it again, so the cloud gets every event once.
    await expectAllDelivered(site, locks);
    for (const lock of locks) await site.waitForAcknowledged(lock);
    tally.note("dropped by drop-oldest policy (counted), then sent again by their locks", dropped);
    tally.case("issue 13: events the bridge dropped (drop-oldest) are sent again by their locks, none lost");
  });
});
