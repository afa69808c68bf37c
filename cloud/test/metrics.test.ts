import { commandResultBinding, fromBase64Url, toBase64Url } from "@latchkey/protocol";
import { afterEach, describe, expect, it } from "vitest";
import {
  bridgeWithConnection,
  closeAll,
  lh,
  seededRandom,
  startTestCloud,
  type TestCloud,
  tenant,
  until,
  virtualLocks,
} from "./helpers.js";
import { claimedLock, eventReport, type TestLock, upload } from "./lock.js";

/**
 * The cloud's Prometheus metrics (issue 13 item 5: refused reports "counted in the bridge API's answer and the cloud's
 * metrics"; docs/bridge-api.md "Reports from the lock"): on a listener of their own, moved by what committed.
 */
afterEach(closeAll);

async function scrape(t: TestCloud): Promise<string> {
  if (!t.cloud.metricsUrl) throw new Error("the cloud serves no metrics");
  const res = await fetch(`${t.cloud.metricsUrl}/metrics`);
  expect(res.status).toBe(200);
  return res.text();
}

/** The value of one series (`name{label="value"}`), or undefined when it is not exposed. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const want = Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .join(",");
  const prefix = want === "" ? `${name} ` : `${name}{${want}} `;
  const line = text.split("\n").find((l) => l.startsWith(prefix));
  return line === undefined ? undefined : Number(line.slice(prefix.length));
}

const VERDICTS = ["ok", "duplicate", "forged", "wrong_lock", "replayed", "malformed", "unknown_key", "unclaimed"];

function reportCounts(text: string): Record<string, number | undefined> {
  return Object.fromEntries(VERDICTS.map((v) => [v, sample(text, "latchkey_cloud_reports_total", { verdict: v })]));
}

function flipLast(report: string): string {
  const bytes = fromBase64Url(report);
  bytes[bytes.length - 1]! ^= 0x01;
  return toBase64Url(bytes);
}

async function site(options: { metricsPort?: number } = { metricsPort: 0 }) {
  const t = await startTestCloud(options);
  const tn = await tenant(t);
  const br = await bridgeWithConnection(t, tn);
  return { t, tn, br };
}

describe("latchkey_cloud_reports_total and the report gaps", () => {
  it("every verdict moves its own series, ok included; a skipped counter run is one gap of so many missing", async () => {
    const { t, br, tn } = await site();
    const zero = Object.fromEntries(VERDICTS.map((v) => [v, 0]));
    // Every series is there from the start, at 0.
    expect(reportCounts(await scrape(t))).toEqual(zero);
    expect(sample(await scrape(t), "latchkey_cloud_report_gaps_total")).toBe(0);

    const lock: TestLock = await claimedLock(t, tn, br, "lk-metrics-1");
    const first = eventReport(lock, 1);
    const forged = flipLast(eventReport(lock, 2, {}, 2));
    const ok = await upload(t, br, [
      { lockId: lock.lockId, report: first, keys: lock.wireKeys },
      { lockId: lock.lockId, report: forged },
    ]);
    expect(ok.body.counts).toMatchObject({ ok: 1, forged: 1 });
    expect(reportCounts(await scrape(t))).toEqual({ ...zero, ok: 1, forged: 1 });

    // Counter 5 after 1: counters 2 to 4 are a gap (3 missing); 3 arriving later is replayed, 1 again a duplicate.
    const withheld = eventReport(lock, 3, {}, 3);
    const skipping = await upload(t, br, [{ lockId: lock.lockId, report: eventReport(lock, 5, {}, 5) }]);
    expect(skipping.body.gaps).toEqual([{ lockId: lock.lockId, missing: 3 }]);
    const late = await upload(t, br, [
      { lockId: lock.lockId, report: withheld },
      { lockId: lock.lockId, report: first },
      { lockId: "lk-nobody", report: first },
    ]);
    expect(late.body.results.map((r: { verdict: string }) => r.verdict)).toEqual([
      "replayed",
      "duplicate",
      "unclaimed",
    ]);

    const text = await scrape(t);
    expect(reportCounts(text)).toEqual({ ...zero, ok: 2, forged: 1, replayed: 1, duplicate: 1, unclaimed: 1 });
    expect(sample(text, "latchkey_cloud_report_gaps_total")).toBe(1);
    expect(sample(text, "latchkey_cloud_reports_missing_total")).toBe(3);
  });

  it("a batch refused whole (not a verdict: a body out of shape) counts nothing", async () => {
    const { t, br } = await site();
    const res = await t.call("POST", "/bridge/v1/reports", { token: br.token, body: { items: [{ lockId: 1 }] } });
    expect(res.status).toBe(400);
    expect(Object.values(reportCounts(await scrape(t))).every((n) => n === 0)).toBe(true);
  });
});

describe("latchkey_cloud_remote_actions_total", () => {
  it("counts each status an action reached, once: pending, sent, failed, succeeded, expired (a restart's maintenance)", async () => {
    const { t, tn, br } = await site();
    const lock = await claimedLock(t, tn, br, "lk-metrics-act");
    const path = lh(tn, `/locks/${lock.lockId}/actions`);
    const create = async (action: string) =>
      (await t.call("POST", path, { token: tn.token, body: { action } })).body.id as string;
    const nonces = seededRandom("metrics nonces");
    const ask = (id: string, nonce: Uint8Array) =>
      t.call("POST", `/bridge/v1/actions/${id}/command`, { token: br.token, body: { nonce: toBase64Url(nonce) } });
    const actions = async (cloud = t) => {
      const text = await scrape(cloud);
      return Object.fromEntries(
        ["pending", "sent", "succeeded", "failed", "expired"].map((s) => [
          s,
          sample(text, "latchkey_cloud_remote_actions_total", { status: s }),
        ]),
      );
    };

    const unlock = await create("unlock");
    const refusedByLock = await create("lock");
    const nonce = nonces(16);
    expect((await ask(unlock, nonce)).status).toBe(200);
    // The same nonce again (a lost answer) gets the same command: no second `sent`.
    expect((await ask(unlock, nonce)).status).toBe(200);
    expect((await ask(refusedByLock, nonces(16))).status).toBe(200);
    const failed = await t.call("POST", `/bridge/v1/actions/${refusedByLock}/result`, {
      token: br.token,
      body: { ok: false, code: "stale_counter" },
    });
    expect(failed.status).toBe(204);
    // A failure refused (the action is closed) counts nothing.
    const again = await t.call("POST", `/bridge/v1/actions/${refusedByLock}/result`, {
      token: br.token,
      body: { ok: false, code: "unreachable" },
    });
    expect(again.status).toBe(409);
    const done = await upload(t, br, [
      {
        lockId: lock.lockId,
        report: eventReport(lock, 1, { type: "unlocked", cmd: commandResultBinding(nonce) }),
        keys: lock.wireKeys,
      },
    ]);
    expect(done.body.counts.ok).toBe(1);
    expect(await actions()).toEqual({ pending: 2, sent: 2, succeeded: 1, failed: 1, expired: 0 });

    // A virtual lock's action is created succeeded.
    const { lockIds } = await virtualLocks(t, tn, 1);
    const virtual = await t.call("POST", lh(tn, `/locks/${lockIds[0]}/actions`), {
      token: tn.token,
      body: { action: "unlock" },
    });
    expect(virtual.body.status).toBe("succeeded");
    expect((await actions()).succeeded).toBe(2);

    // An action left pending past its 60 s: the maintenance worker writes it expired (at start, and every minute).
    await create("unlock");
    t.clock.advance(61_000);
    await t.cloud.close();
    const restarted = await startTestCloud({ dataDir: t.dir, clock: t.clock, metricsPort: 0, seed: "restarted" });
    await until("maintenance to expire the action", async () => (await actions(restarted)).expired === 1);
    expect(await actions(restarted)).toEqual({ pending: 0, sent: 0, succeeded: 0, failed: 0, expired: 1 });
  });
});

describe("the metrics listener", () => {
  it("serves /metrics on its own port, with the process metrics; the API port has no /metrics", async () => {
    const { t, br, tn } = await site();
    const metricsUrl = t.cloud.metricsUrl!;
    expect(metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(new URL(metricsUrl).port).not.toBe(String(t.cloud.port));
    const res = await fetch(`${metricsUrl}/metrics`);
    expect(res.headers.get("content-type")).toContain("text/plain");
    const text = await res.text();
    expect(text).toContain("# TYPE latchkey_cloud_reports_total counter");
    expect(text).toContain("# TYPE latchkey_cloud_process_cpu_user_seconds_total counter");
    expect(text).toContain("latchkey_cloud_nodejs_eventloop_lag_seconds");
    // Gauges promtool would refuse for their `_total` name are left out (as the bridge does).
    expect(text).not.toContain("latchkey_cloud_nodejs_active_handles_total");

    // The public API answers no metrics, whoever asks, over real HTTP as over inject.
    for (const token of [undefined, br.token, tn.token]) {
      const api = await fetch(`${t.cloud.url}/metrics`, token ? { headers: { authorization: `Bearer ${token}` } } : {});
      expect(api.status).toBe(404);
      expect(await api.text()).not.toContain("latchkey_cloud_");
    }
    expect((await t.call("GET", "/metrics")).status).toBe(404);

    // The metrics listener serves nothing else, and only reads.
    expect((await fetch(`${metricsUrl}/health`)).status).toBe(404);
    expect((await fetch(`${metricsUrl}/bridge/v1/changes`)).status).toBe(404);
    expect((await fetch(`${metricsUrl}/metrics`, { method: "POST" })).status).toBe(405);
    expect((await fetch(`${metricsUrl}/metrics?name=x`)).status).toBe(200);
  });

  it("is off unless a port is given: no listener, no process metrics; the counters still count", async () => {
    const { t } = await site({});
    expect(t.cloud.metricsUrl).toBeUndefined();
    const text = await t.cloud.metrics.registry.metrics();
    expect(text).toContain("latchkey_cloud_reports_total");
    expect(text).not.toContain("process_cpu");
  });

  it("closes with the cloud", async () => {
    const { t } = await site();
    const metricsUrl = t.cloud.metricsUrl!;
    await t.close();
    await expect(fetch(`${metricsUrl}/metrics`)).rejects.toThrow();
  });
});
