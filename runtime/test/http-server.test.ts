import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { closeHttpServer, readRequestBody } from "../src/index.js";

describe("readRequestBody and closeHttpServer", () => {
  let server: Server | null = null;
  afterEach(async () => {
    if (server) await closeHttpServer(server);
    server = null;
  });

  const echo = async (limit: number): Promise<string> => {
    server = createServer((req, res) => {
      readRequestBody(req, limit).then(
        (body) => res.writeHead(200).end(`got ${body}`),
        (err: Error) => res.writeHead(413).end(err.message),
      );
    });
    await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  };

  it("reads the whole body as UTF-8, a character split across chunks too", async () => {
    const url = await echo(1024);
    const bytes = Buffer.from("nøkkel ✓");
    const stream = new ReadableStream({
      start(c) {
        c.enqueue(bytes.subarray(0, 2));
        c.enqueue(bytes.subarray(2));
        c.close();
      },
    });
    const res = await fetch(url, { method: "POST", body: stream, duplex: "half" } as RequestInit);
    expect(await res.text()).toBe("got nøkkel ✓");
  });

  it("refuses a body past the limit", async () => {
    const url = await echo(4);
    const res = await fetch(url, { method: "POST", body: "12345" }).catch(() => null);
    // The request is destroyed: the client sees either the refusal or a reset, never an accepted body.
    if (res) expect(await res.text()).toBe("body too large");
  });
});
