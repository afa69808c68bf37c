import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { closeHttpServer } from "@latchkey/runtime";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { httpExchange } from "../src/cloud/http-request.js";

/** The bridge's HTTP client of the cloud (node:http instead of fetch, issue 17 item 2), against a real loopback server. */
describe("httpExchange", () => {
  let server: Server;
  let base: string;
  const received: { method: string; headers: Record<string, unknown>; body: string }[] = [];
  let stall: (() => void) | null = null;

  beforeEach(async () => {
    received.length = 0;
    server = createServer((req, res) => {
      let body = "";
      req.setEncoding("utf8");
      req.on("data", (c: string) => {
        body += c;
      });
      req.on("end", () => {
        received.push({ method: req.method!, headers: req.headers, body });
        if (req.url === "/stall") {
          // Headers and half a body, then nothing: a cloud (or a proxy) that hangs mid-answer.
          res.writeHead(200, { "content-type": "application/json", "content-length": "100" });
          res.write('{"half":');
          stall = () => res.destroy();
          return;
        }
        if (req.url === "/moved") {
          res.writeHead(302, { location: `${base}/elsewhere` });
          res.end();
          return;
        }
        res.writeHead(req.url === "/missing" ? 404 : 200, { "content-type": "application/json" });
        res.end(JSON.stringify({ echo: body, path: req.url, ø: "é" }));
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterEach(async () => {
    stall?.();
    stall = null;
    await closeHttpServer(server);
  });

  it("sends the method, headers and body (with its length) and answers status and UTF-8 text", async () => {
    const body = JSON.stringify({ note: "blåbær" });
    const answer = await httpExchange(`${base}/x`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: "Bearer t" },
      body,
      signal: AbortSignal.timeout(5000),
    });
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.text)).toEqual({ echo: body, path: "/x", ø: "é" });
    expect(received[0]).toMatchObject({ method: "POST", body });
    expect(received[0]!.headers).toMatchObject({
      authorization: "Bearer t",
      "content-length": String(Buffer.byteLength(body)),
    });
  });

  it("resolves any HTTP status: the caller judges a 404", async () => {
    const answer = await httpExchange(`${base}/missing`, {
      method: "GET",
      headers: {},
      signal: AbortSignal.timeout(5000),
    });
    expect(answer.status).toBe(404);
  });

  it("follows no redirect: the bearer token goes only to the address configured", async () => {
    const answer = await httpExchange(`${base}/moved`, {
      method: "GET",
      headers: { authorization: "Bearer t" },
      signal: AbortSignal.timeout(5000),
    });
    expect(answer.status).toBe(302);
    expect(received).toHaveLength(1);
  });

  it("rejects when the deadline passes midway through the body, not only before the headers", async () => {
    const deadline = new AbortController();
    const exchange = httpExchange(`${base}/stall`, { method: "GET", headers: {}, signal: deadline.signal });
    await new Promise<void>((r) => {
      const wait = () => (received.length > 0 && stall ? r() : setImmediate(wait));
      wait();
    });
    deadline.abort(new Error("deadline"));
    await expect(exchange).rejects.toThrow("deadline");
  });

  it("rejects when nothing listens", async () => {
    const closed = base;
    await closeHttpServer(server);
    server = createServer().listen(0, "127.0.0.1");
    await expect(
      httpExchange(`${closed}/x`, { method: "GET", headers: {}, signal: AbortSignal.timeout(5000) }),
    ).rejects.toThrow(/ECONNREFUSED/);
  });
});
