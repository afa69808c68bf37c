import { describe, expect, it } from "vitest";
import type { RunningBridge } from "../src/index.js";
import { StatusLogin } from "../src/status/login.js";
import { STATUS_CSP } from "../src/status/status-page.js";
import { siteChanges } from "./helpers/bridge.js";
import { bridgeSiteEach } from "./helpers/site-each.js";
import { waitFor } from "./helpers/wait.js";

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;

/** The status page's HTTP side without a browser (the page itself is tested in Chromium: status-page.test.ts). */
describe("status page over HTTP", () => {
  const site = bridgeSiteEach();
  let bridge: RunningBridge | null = null;

  it("serves the page, its files and a snapshot with the policy, and streams a snapshot first", async () => {
    siteChanges(site.cloud, ["lock-a"]);
    ({ bridge } = await site.start());
    await bridge.ready;
    const a = await site.lock("lock-a");
    await a.telemetry({ level: 42 });
    const base = bridge.metricsUrl!;
    for (const [path, type] of [
      ["/", "text/html"],
      ["/status/app.js", "text/javascript"],
      ["/status/app.css", "text/css"],
      ["/status/snapshot.json", "application/json"],
    ]) {
      const res = await fetch(`${base}${path}`);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toContain(type);
      expect(res.headers.get("content-security-policy")).toBe(STATUS_CSP);
      expect(res.headers.get("x-content-type-options")).toBe("nosniff");
      await res.arrayBuffer();
    }
    const snapshot = await waitFor("lock-a in the snapshot", async () => {
      const s = (await (await fetch(`${base}/status/snapshot.json`)).json()) as {
        site: { bridge: { id: string }; cloud: { url: string } };
        locks: Array<{ lockId: string; online: boolean; battery: { level: number } | null }>;
      };
      return s.locks[0]?.battery ? s : null;
    });
    expect(snapshot.site.bridge.id).toBe("br-test");
    expect(snapshot.site.cloud.url).toBe(site.cloud.url);
    expect(snapshot.locks).toEqual([
      expect.objectContaining({ lockId: "lock-a", online: true, battery: expect.objectContaining({ level: 42 }) }),
    ]);

    const controller = new AbortController();
    const stream = await fetch(`${base}/status/events`, { signal: controller.signal });
    expect(stream.headers.get("content-type")).toContain("text/event-stream");
    const reader = stream.body!.getReader();
    let text = "";
    while (!text.includes("\n\nevent: snapshot\ndata: ")) text += new TextDecoder().decode((await reader.read()).value);
    controller.abort();
  });

  it("with status.password, every page path asks for the login; /healthz and /metrics do not", async () => {
    ({ bridge } = await site.start({ status: { password: "status-password-1" } }));
    const base = bridge.metricsUrl!;
    for (const path of ["/", "/status/app.js", "/status/snapshot.json", "/status/events"]) {
      const res = await fetch(`${base}${path}`);
      expect(res.status).toBe(401);
      expect(res.headers.get("www-authenticate")).toContain("Basic");
      await res.arrayBuffer();
    }
    const ok = await fetch(`${base}/status/snapshot.json`, {
      headers: { authorization: basic("operator", "status-password-1") },
    });
    expect(ok.status).toBe(200);
    await ok.arrayBuffer();
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect((await fetch(`${base}/metrics`)).status).toBe(200);
  });

  it("StatusLogin takes only the exact user and password", () => {
    const login = new StatusLogin("operator", "status-password-1");
    expect(login.accepts(basic("operator", "status-password-1"))).toBe(true);
    expect(login.accepts(basic("operator", "status-password-2"))).toBe(false);
    expect(login.accepts(basic("admin", "status-password-1"))).toBe(false);
    expect(login.accepts(basic("operator", "status-password-1:"))).toBe(false);
    expect(login.accepts(undefined)).toBe(false);
    expect(login.accepts("Bearer x")).toBe(false);
    expect(login.accepts("Basic !!!")).toBe(false);
  });
});
