import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { createLogger } from "../src/logger.js";

function capture(): { stream: Writable; lines: () => Record<string, unknown>[] } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk.toString("utf8"));
      done();
    },
  });
  const lines = () =>
    chunks
      .join("")
      .split("\n")
      .filter((l) => l.trim())
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { stream, lines };
}

describe("createLogger", () => {
  it("gives every process the same base fields", () => {
    for (const service of ["latchkey-cloud", "latchkey-bridge", "latchkey-lock-sim"]) {
      const out = capture();
      createLogger({ service, destination: out.stream }).info({ lockId: "lk_1" }, "hello");
      const [line] = out.lines();
      expect(Object.keys(line ?? {}).sort()).toEqual(["hostname", "level", "lockId", "msg", "pid", "service", "time"]);
      expect(line).toMatchObject({ service, level: 30, msg: "hello", pid: process.pid });
      expect(typeof line?.time).toBe("number");
    }
  });

  it("redacts secrets wherever a caller puts them", () => {
    const out = capture();
    const log = createLogger({ service: "latchkey-cloud", destination: out.stream });
    log.info({ password: "p4ss", config: { siteSecret: "s3cret-s3cret-s3cret" } }, "top and nested");
    log.info({ req: { headers: { authorization: "Bearer abc.def" } } }, "a request");
    log.info({ body: { client_secret: "cs", access_token: "at" } }, "an OAuth answer");
    const text = JSON.stringify(out.lines());
    for (const secret of ["p4ss", "s3cret-s3cret-s3cret", "Bearer abc.def", '"cs"', '"at"'])
      expect(text).not.toContain(secret);
    expect(text.match(/\[redacted\]/g)?.length).toBe(5);
  });

  it("honours the level", () => {
    const out = capture();
    const log = createLogger({ service: "latchkey-bridge", level: "warn", destination: out.stream });
    log.info("hidden");
    log.warn("shown");
    expect(out.lines().map((l) => l.msg)).toEqual(["shown"]);
  });
});
