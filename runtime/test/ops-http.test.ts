import { afterEach, describe, expect, it } from "vitest";
import { answerMetrics, OpsHttpServer, refuseWrites } from "../src/ops-http.js";

describe("OpsHttpServer", () => {
  const servers: OpsHttpServer[] = [];
  afterEach(async () => {
    for (const s of servers.splice(0)) await s.close();
  });

  async function serve(registry: { metrics(): Promise<string>; contentType: string }) {
    const server = new OpsHttpServer((req, res, path) => {
      if (path !== "/metrics") return false;
      if (!refuseWrites(req, res)) answerMetrics(registry, res);
      return true;
    });
    servers.push(server);
    return server.listen("127.0.0.1", 0);
  }

  it("answers what its handler answers, 405 for writes, a JSON 404 for the rest", async () => {
    const url = await serve({ metrics: async () => "up 1\n", contentType: "text/plain; version=0.0.4" });
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const ok = await fetch(`${url}/metrics?x=1`);
    expect([ok.status, ok.headers.get("content-type"), await ok.text()]).toEqual([
      200,
      "text/plain; version=0.0.4",
      "up 1\n",
    ]);
    const post = await fetch(`${url}/metrics`, { method: "POST" });
    expect([post.status, post.headers.get("allow")]).toEqual([405, "GET, HEAD"]);
    const missing = await fetch(`${url}/other`);
    expect([missing.status, await missing.json()]).toEqual([404, { error: "not_found" }]);
  });

  it("a failed collection is a 500 naming why, and the listener keeps serving", async () => {
    let fail = true;
    const url = await serve({
      metrics: async () => {
        if (fail) throw new Error("collector broke");
        return "ok 1\n";
      },
      contentType: "text/plain",
    });
    const broken = await fetch(`${url}/metrics`);
    expect([broken.status, await broken.text()]).toEqual([500, "collector broke"]);
    fail = false;
    expect((await fetch(`${url}/metrics`)).status).toBe(200);
  });

  it("close is safe before listen and twice", async () => {
    const server = new OpsHttpServer(() => false);
    await server.close();
    await server.listen("127.0.0.1", 0);
    await server.close();
    await server.close();
  });
});
