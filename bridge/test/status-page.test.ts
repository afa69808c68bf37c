import { randomBytes } from "node:crypto";
import { copyFileSync, existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningBridge } from "../src/index.js";
import { STATUS_CSP } from "../src/status/status-page.js";
import { siteChanges } from "./helpers/bridge.js";
import { MqttLock } from "./helpers/mqtt-lock.js";
import { bridgeSiteEach } from "./helpers/site-each.js";
import { waitFor } from "./helpers/wait.js";

/**
 * The operator's status page in a real headless Chromium (Debian's `chromium`, driven by playwright-core): it is
 * served by the bridge, updates live over Server-Sent Events, loads nothing from elsewhere, and asks for a login when
 * one is configured. Skipped, saying why, on a host without Chromium (.ci/run installs it).
 */
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const HAS_CHROMIUM = existsSync(CHROMIUM);
const SCREENSHOT = fileURLToPath(new URL("../../docs/status-page.png", import.meta.url));
if (!HAS_CHROMIUM)
  console.warn(`status page browser tests skipped: no Chromium at ${CHROMIUM} (apt-get install chromium)`);

const title = HAS_CHROMIUM
  ? "status page in a real Chromium"
  : `status page in a real Chromium (SKIPPED: no Chromium at ${CHROMIUM}; apt-get install chromium)`;

/**
 * Resolves once the page shows `text` in an element, checked at every frame the browser draws (no sleeps); fails after
 * `timeout` ms. A function, not a string: the page's policy refuses `eval`.
 */
const shows = (page: Page, selector: string, text: string, timeout: number) =>
  page.waitForFunction(
    ([sel, want]) => (globalThis as unknown as InPage).document.querySelector(sel)?.textContent === want,
    [selector, text] as const,
    { timeout, polling: "raf" },
  );

/** The little of the DOM the page-side predicate uses. */
interface InPage {
  document: { querySelector(selector: string): { textContent: string | null } | null };
}

/** A lock's cell as the page shows it. */
const cell = (page: Page, lockId: string, col: string) =>
  page.locator(`#locks tr[data-lock="${lockId}"] td[data-col="${col}"]`);

describe.skipIf(!HAS_CHROMIUM)(title, () => {
  let browser: Browser;
  const site = bridgeSiteEach();
  let bridge: RunningBridge | null = null;

  beforeAll(async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
  });
  afterAll(async () => {
    await browser?.close();
  });

  const lock = async (id: string, options: ConstructorParameters<typeof MqttLock>[2] = {}, runsV = 0) => {
    const l = new MqttLock(id, bridge!.mqttUrl, options);
    l.pingV = runsV;
    site.track(l);
    await l.connect();
    return l;
  };

  it("shows every lock, the cloud link, the outbox and BLE, and a lock going offline and a battery change within a second", async () => {
    siteChanges(site.cloud, ["door-front", "door-back", "gate"]);
    site.cloud.states.set("door-front", { v: 4, iat: 1_800_000_000, state: new Uint8Array([0xa0]) });
    site.cloud.states.set("door-back", { v: 2, iat: 1_800_000_000, state: new Uint8Array([0xa0]) });
    ({ bridge } = await site.start());
    await bridge.ready;
    const front = await lock("door-front", {}, 4);
    await front.event({ type: "state_applied", v: 4 });
    await front.event({ type: "unlocked" });
    await front.event({ type: "locked" });
    await front.telemetry({ level: 81, mv: 2950 });
    const back = await lock("door-back", {}, 1);
    await back.event({ type: "state_applied", v: 1 });
    await back.event({ type: "denied", code: "revoked", dropped: 2 });
    await back.telemetry({ level: 23, mv: 2610, state: "low" });
    // A courier holding door-back's login but not its report key: the cloud refuses what it carries.
    const forger = await lock("door-back", { reportKey: randomBytes(32), publishKeys: false }, 1);
    forger.ctr = 50;
    await forger.event({ seq: 40 });
    await waitFor("the forged report judged", () => site.cloud.verdicts.forged === 1);
    await forger.close();
    const back2 = await lock("door-back", {}, 1);
    back2.ctr = back.ctr;
    await back2.telemetry({ level: 23, mv: 2610, state: "low" });
    await waitFor("the outbox emptied", () => bridge!.outbox().items === 0);

    const page = await browser.newPage({ viewport: { width: 1360, height: 900 } });
    const requests: string[] = [];
    const problems: string[] = [];
    page.on("request", (r) => requests.push(r.url()));
    page.on("console", (m) => {
      if (m.type() === "error") problems.push(m.text());
    });
    page.on("pageerror", (e) => problems.push(e.message));
    const response = await page.goto(`${bridge.metricsUrl}/`);
    expect(response?.status()).toBe(200);
    expect(response?.headers()["content-security-policy"]).toBe(STATUS_CSP);
    await page.waitForSelector("body[data-ready=true]");
    await page.waitForSelector("#live.on");

    await expect.poll(() => page.locator("#locks tbody tr").count()).toBe(3);
    expect(await cell(page, "door-front", "online").textContent()).toBe("online");
    expect(await cell(page, "door-front", "battery").textContent()).toBe("81 % (2.95 V, ok)");
    // What the lock runs, by its last word: its ping at connect or its state_applied report, whichever came last.
    expect(await cell(page, "door-front", "version").textContent()).toMatch(/^v4 \((report|ping)\) \/ v4$/);
    expect(await cell(page, "door-front", "lockState").textContent()).toBe("locked");
    expect(await cell(page, "door-back", "version").textContent()).toMatch(/^v1 \((report|ping)\) \/ v2$/);
    expect(await cell(page, "door-back", "events").textContent()).toContain("denied revoked");
    expect(await cell(page, "door-back", "gaps").textContent()).toBe("2 dropped");
    expect(await cell(page, "door-back", "refused").textContent()).toBe("forged 1");
    expect(await cell(page, "gate", "online").textContent()).toBe("offline");
    expect(await cell(page, "gate", "lastSeen").textContent()).toBe("never");
    expect(await page.locator("#cloud [data-field=reachable]").textContent()).toBe("reachable");
    expect(await page.locator("#outbox [data-field=items]").textContent()).toBe("0 of 1000000");
    expect(await page.locator("#ble [data-field=state]").textContent()).toBe("off (ble.enabled: false)");
    expect(await page.locator("#vendors tr[data-vendor=vc_1] td").nth(3).textContent()).toBeTruthy();
    expect(await page.locator("#health").textContent()).toBe("running");

    // Live, without a reload: the clock starts once the bridge has the change (the lock's PUBACK).
    await back2.telemetry({ level: 9, mv: 2400, state: "critical" });
    await shows(page, '#locks tr[data-lock="door-back"] td[data-col="battery"]', "9 % (2.40 V, critical)", 1000);
    await back2.close();
    await waitFor("the bridge saw door-back leave", () => (bridge!.health().locks as { online: number }).online === 1);
    await shows(page, '#locks tr[data-lock="door-back"] td[data-col="online"]', "offline", 1000);

    // Only the bridge's own files and stream, and no script or style the policy refused.
    const origin = new URL(bridge.metricsUrl!).origin;
    expect(requests.filter((u) => !u.startsWith(`${origin}/`))).toEqual([]);
    expect(problems).toEqual([]);

    const shot = join(site.dir.path, "status-page.png");
    await page.screenshot({ path: shot, fullPage: true, animations: "disabled" });
    expect(readFileSync(shot).subarray(1, 4).toString()).toBe("PNG");
    // The README's picture: written when missing, refreshed on demand (it changes with every run's times).
    if (!existsSync(SCREENSHOT) || process.env.LATCHKEY_UPDATE_SCREENSHOT === "1") copyFileSync(shot, SCREENSHOT);
    await page.close();
  });

  it("asks for the configured login, and shows the cloud refusing the bridge's credentials as degraded", async () => {
    siteChanges(site.cloud, ["door-a"]);
    ({ bridge } = await site.start({
      cloud: { url: site.cloud.url, bridgeId: site.cloud.bridgeId, secret: "not-the-bridge-secret" },
      status: { username: "operator", password: "status-password-1" },
    }));
    const base = bridge.metricsUrl!;
    const plain = await fetch(`${base}/`);
    expect(plain.status).toBe(401);
    expect(plain.headers.get("www-authenticate")).toMatch(/^Basic realm="latchkey bridge status"/);
    const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;
    const wrong = await fetch(`${base}/status/snapshot.json`, {
      headers: { authorization: basic("operator", "status-password-2") },
    });
    expect(wrong.status).toBe(401);
    expect(await (await fetch(`${base}/metrics`)).text()).toMatch(/latchkey_bridge_status_login_failures_total 1/);
    // Probes and scrapers are not asked for the page's login.
    expect((await fetch(`${base}/healthz`)).status).toBe(200);

    const context = await browser.newContext({
      httpCredentials: { username: "operator", password: "status-password-1" },
    });
    const page = await context.newPage();
    expect((await page.goto(`${base}/`))?.status()).toBe(200);
    await page.waitForSelector("body[data-ready=true]");
    await shows(page, "#cloud [data-field=credentials]", "REFUSED: check cloud.secret", 10_000);
    expect(await page.locator("#health").textContent()).toBe("degraded");
    expect(await page.locator("#degraded").textContent()).toContain("cloud.secret");
    await context.close();
  });
});
