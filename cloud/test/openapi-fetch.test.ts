import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { AnswerWatch } from "@latchkey/protocol/testing/openapi-fetch";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closeAll, startTestCloud, type TestCloud } from "./helpers.js";

/**
 * Issue 14: the whole-stack suites (test/src/openapi-setup.ts) check every cloud answer through AnswerWatch's fetch.
 * These show it checks a real cloud's answers over the network, finds one off the document, and leaves alone what is
 * not a cloud, so a watch that silently checks nothing cannot pass those suites.
 */
let t: TestCloud;
let docText: string;
/** Serves the cloud's own document, but answers one of its operations with a body the document refuses. */
let liar: Server;
/** Sets x-request-id like the cloud but serves no OpenAPI document (a webhook receiver could). */
let other: Server;
let liarUrl: string;
let otherUrl: string;

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

beforeAll(async () => {
  t = await startTestCloud({ seed: "openapi-fetch" });
  docText = JSON.stringify((await t.call("GET", "/docs/json")).body);
  liar = createServer((req, res) => {
    res.setHeader("x-request-id", "req-1");
    if (req.url === "/docs/json") res.writeHead(200, { "content-type": "application/json" }).end(docText);
    else res.writeHead(200, { "content-type": "application/json" }).end('{"lockHolders":"not a list"}');
  });
  other = createServer((_req, res) => {
    res.setHeader("x-request-id", "req-2");
    res.writeHead(200, { "content-type": "text/plain" }).end("hello");
  });
  liarUrl = await listen(liar);
  otherUrl = await listen(other);
});
afterAll(async () => {
  await closeAll();
  await new Promise((resolve) => liar.close(resolve));
  await new Promise((resolve) => other.close(resolve));
});

describe("AnswerWatch", () => {
  it("checks a cloud's answers over the network, refusals included, and counts them by operation", async () => {
    const watch = new AnswerWatch(fetch);
    const checked = watch.fetch();
    const base = t.cloud.url;
    expect((await checked(`${base}/integrators/v1/lock-holders`)).status).toBe(401);
    const token = await checked(`${base}/auth/v1/token`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{not json",
    });
    expect(token.status).toBe(400);
    // The body is still there for the caller: the watch reads a clone.
    expect(((await token.json()) as { error: string }).error).toBe("malformed_json");
    // Paths the document does not list are not counted.
    expect((await checked(`${base}/health`)).status).toBeLessThan(500);
    expect(watch.checked).toBe(2);
    expect([...watch.byOperation.keys()].sort()).toEqual([
      "GET /integrators/v1/lock-holders (listLockHolders)",
      "POST /auth/v1/token (getAccessToken)",
    ]);
    expect(watch.takeProblems()).toEqual([]);
  });

  it("finds an answer off the document, and keeps it for the suite to fail on (once)", async () => {
    const watch = new AnswerWatch(fetch);
    const res = await watch.fetch()(`${liarUrl}/integrators/v1/lock-holders`);
    expect(res.status).toBe(200);
    const problems = watch.takeProblems();
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain("GET /integrators/v1/lock-holders");
    expect(problems[0]).toContain("/lockHolders must be array");
    expect(watch.takeProblems()).toEqual([]);
  });

  it("checks a raw exchange with its path as sent (a hostile ../ is matched as the router saw it)", async () => {
    const watch = new AnswerWatch(fetch);
    const origin = liarUrl;
    await watch.answer("GET", origin, "/integrators/v1/lock-holders", 200, "application/json", '{"lockHolders":[]}');
    await watch.answer("GET", origin, "/integrators/v1/lock-holders/..", 404, "application/json", "{}");
    expect(watch.checked).toBe(2);
    expect(watch.takeProblems()).toEqual([expect.stringContaining("GET /integrators/v1/lock-holders/{lockHolderId}")]);
  });

  it("leaves alone an origin that serves no OpenAPI document", async () => {
    const watch = new AnswerWatch(fetch);
    const res = await watch.fetch()(`${otherUrl}/integrators/v1/lock-holders`);
    expect(await res.text()).toBe("hello");
    expect(watch.checked).toBe(0);
    expect(watch.takeProblems()).toEqual([]);
  });
});
