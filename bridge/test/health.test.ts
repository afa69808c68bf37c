import { describe, expect, it } from "vitest";
import type { RunningBridge } from "../src/index.js";
import { degradations } from "../src/ops/degraded.js";
import { siteChanges } from "./helpers/bridge.js";
import type { LogCapture } from "./helpers/fixtures.js";
import { bridgeSiteEach } from "./helpers/site-each.js";
import { waitFor } from "./helpers/wait.js";

interface Health {
  ok: boolean;
  status: string;
  degraded: Array<{ check: string; message: string }>;
  cloud: { reachable: boolean | null; unreachableSince: string | null; credentialsRefused: unknown };
  outbox: { items: number };
}

const healthz = async (bridge: RunningBridge) => {
  const res = await fetch(`${bridge.metricsUrl}/healthz`);
  return { status: res.status, body: (await res.json()) as Health };
};

/** Honest health (issue 15 item 2): `/healthz` says degraded, and why, while it still serves its locks. */
describe("/healthz degraded, and the log of an outage", () => {
  const site = bridgeSiteEach();
  let bridge: RunningBridge | null = null;
  let log: LogCapture;
  /** The bridge's clock (ms): moved by hand, so "unreachable for 5 minutes" takes no 5 minutes. */
  let now = 1_800_000_000_000;
  const clock = { now: () => now };

  const lock = site.lock;

  it("the cloud unreachable past health.cloudUnreachableSeconds is degraded (200), then 'cloud reachable again, uploaded N'", async () => {
    siteChanges(site.cloud, ["lock-a"]);
    ({ bridge, log } = await site.start({ health: { cloudUnreachableSeconds: 300 } }, { clock }));
    await bridge.ready;
    expect((await healthz(bridge)).body).toMatchObject({ status: "running", degraded: [] });

    site.cloud.down = true;
    await waitFor(
      "the bridge to notice",
      () => bridge!.health().cloud && (bridge!.health() as unknown as Health).cloud.reachable === false,
    );
    const a = await lock("lock-a");
    for (let i = 0; i < 5; i++) await a.event();
    now += 299_000;
    expect((await healthz(bridge)).body.status).toBe("running");
    now += 2_000;
    const { status, body } = await healthz(bridge);
    expect(status).toBe(200);
    expect(body.ok).toBe(true);
    expect(body.status).toBe("degraded");
    expect(body.degraded).toEqual([
      {
        check: "cloud_unreachable",
        message: expect.stringMatching(
          new RegExp(`^the cloud \\(${site.cloud.url}\\) has been unreachable for 301 s: .*503 unavailable`),
        ),
      },
    ]);

    // Times as the APIs say them: RFC 3339, UTC (the bridge's clock is the test's).
    expect(body.cloud.unreachableSince).toMatch(/^2027-01-15T08:0\d:\d\d\.\d{3}Z$/);
    expect(Date.parse(body.cloud.unreachableSince!)).toBeLessThanOrEqual(now - 301_000);

    const waiting = bridge.outbox().items;
    expect(waiting).toBeGreaterThanOrEqual(5);
    site.cloud.down = false;
    const back = await waitFor("the outage's end logged", () =>
      log.lines.find((l) => typeof l.msg === "string" && l.msg.startsWith("cloud reachable again")),
    );
    expect(back.msg).toBe(`cloud reachable again, uploaded ${back.uploaded}`);
    expect(back.uploaded).toBe(waiting);
    expect(back.left).toBe(0);
    expect(back.outageSeconds).toBeGreaterThanOrEqual(301);
    expect((await healthz(bridge)).body).toMatchObject({ status: "running", degraded: [] });
  });

  it("a refused login is one error naming cloud.secret, then quiet; /healthz says why", async () => {
    siteChanges(site.cloud, ["lock-a"]);
    ({ bridge, log } = await site.start(
      { cloud: { url: site.cloud.url, bridgeId: site.cloud.bridgeId, secret: "a-revoked-secret" } },
      { clock },
    ));
    const failed = () => log.lines.filter((l) => l.msg === "change feed failed");
    await waitFor("several refused logins", () => failed().length >= 4);
    // pino levels: 50 error, 40 warn, 20 debug.
    expect(failed().map((l) => l.level)).toEqual([
      50,
      ...failed()
        .slice(1)
        .map(() => 20),
    ]);
    expect(String(failed()[0]!.err)).toMatch(/401 invalid_client.*check cloud\.secret/);
    expect(log.lines.filter((l) => l.level === 40 && /fail/.test(String(l.msg)))).toEqual([]);
    expect(log.raw.join("\n")).not.toContain("a-revoked-secret");
    const { status, body } = await healthz(bridge);
    expect(status).toBe(200);
    expect(body.status).toBe("degraded");
    expect(body.degraded.map((d) => d.check)).toEqual(["cloud_credentials"]);
    expect(body.degraded[0]!.message).toContain("check cloud.secret and cloud.bridgeId");
  });

  it("an outbox past health.outboxPercent of its limit is degraded", async () => {
    siteChanges(site.cloud, ["lock-a"]);
    ({ bridge } = await site.start({ outbox: { maxItems: 10 }, health: { outboxPercent: 50 } }, { clock }));
    await bridge.ready;
    site.cloud.down = true;
    const a = await lock("lock-a");
    for (let i = 0; i < 5; i++) await a.event();
    await waitFor("five items or more waiting", () => bridge!.outbox().items >= 5);
    const { body } = await healthz(bridge);
    expect(body.degraded.map((d) => d.check)).toEqual(["outbox"]);
    expect(body.degraded[0]!.message).toMatch(/^the outbox is \d+ % full \(\d+ of 10 items/);
  });
});

describe("degradations (the rules)", () => {
  const cloud = {
    url: "https://cloud.example",
    reachable: true,
    lastSuccessAt: 1,
    lastError: null,
    unreachableSince: null,
    credentialsRefused: null,
  };
  const base = {
    now: 1_000_000,
    cloud,
    cloudUnreachableSeconds: 60,
    outbox: { items: 0, bytes: 0, maxItems: 100, maxBytes: 1000 },
    outboxPercent: 80,
    ble: null,
  };
  it("is empty when all is well, and names each reason otherwise", () => {
    expect(degradations(base)).toEqual([]);
    expect(degradations({ ...base, cloud: { ...cloud, unreachableSince: 1_000_000 - 59_999 } })).toEqual([]);
    expect(degradations({ ...base, cloud: { ...cloud, unreachableSince: 1_000_000 - 60_000 } })[0]!.check).toBe(
      "cloud_unreachable",
    );
    expect(degradations({ ...base, outbox: { items: 1, bytes: 800, maxItems: 100, maxBytes: 1000 } })[0]).toEqual({
      check: "outbox",
      message: "the outbox is 80 % full (1 of 100 items, 800 of 1000 bytes)",
    });
    expect(degradations({ ...base, ble: { state: "starting", reason: null } })).toEqual([]);
    expect(degradations({ ...base, ble: { state: "unavailable", reason: "EAFNOSUPPORT" } })).toEqual([
      { check: "ble_unavailable", message: "Bluetooth LE is unavailable: EAFNOSUPPORT" },
    ]);
  });
});
