import { describe, expect, it } from "vitest";
import { LogFormatter } from "../src/stack/log-format.js";
import { Output } from "../src/stack/output.js";

function capture() {
  const lines: string[] = [];
  const out = new Output({ write: (t: string) => lines.push(...t.split("\n").filter(Boolean)), isTTY: false });
  return { out, lines };
}

describe("readable child logs", () => {
  it("turns a pino line into level, message and fields, without the noise", () => {
    const { out, lines } = capture();
    new LogFormatter(out, "bridge", "blue", false).print("", {
      level: 30,
      time: 1,
      pid: 2,
      hostname: "h",
      service: "latchkey-bridge",
      msg: "bridge started",
      mqttUrl: "mqtt://127.0.0.1:1883",
      wsUrl: null,
    });
    expect(lines).toEqual(["bridge │ INFO  bridge started mqttUrl=mqtt://127.0.0.1:1883 wsUrl=null"]);
  });

  it("pairs fastify's request lines into one, and hides the bridge API's routine traffic", () => {
    const { out, lines } = capture();
    const f = new LogFormatter(out, "cloud", "cyan", false);
    f.print("", {
      level: 30,
      msg: "incoming request",
      reqId: "r1",
      req: { method: "POST", url: "/integrators/v1/lock-holders" },
    });
    f.print("", {
      level: 30,
      msg: "incoming request",
      reqId: "r2",
      req: { method: "GET", url: "/bridge/v1/changes?wait=30" },
    });
    f.print("", { level: 30, msg: "request completed", reqId: "r2", res: { statusCode: 200 }, responseTime: 3 });
    f.print("", { level: 30, msg: "request completed", reqId: "r1", res: { statusCode: 201 }, responseTime: 12.4 });
    f.print("", { level: 30, msg: "incoming request", reqId: "r3", req: { method: "POST", url: "/bridge/v1/ingest" } });
    f.print("", { level: 30, msg: "request completed", reqId: "r3", res: { statusCode: 400 }, responseTime: 1 });
    expect(lines).toEqual([
      "cloud  │ INFO  POST /integrators/v1/lock-holders → 201 12 ms",
      "cloud  │ INFO  POST /bridge/v1/ingest → 400 1 ms",
    ]);
  });

  it("while quiet shows only warnings and errors; --verbose shows everything", () => {
    const { out, lines } = capture();
    out.quiet = true;
    const f = new LogFormatter(out, "cloud", "cyan", false);
    f.print("", { level: 30, msg: "incoming request", reqId: "r1", req: { method: "GET", url: "/x" } });
    f.print("", { level: 30, msg: "request completed", reqId: "r1", res: { statusCode: 200 } });
    f.print("", { level: 30, msg: "store open" });
    f.print("", { level: 40, msg: "webhook failed", err: { message: "ECONNREFUSED" } });
    f.print("not json at all", null);
    expect(lines).toEqual(["cloud  │ WARN  webhook failed err=ECONNREFUSED", "cloud  │ not json at all"]);
    const verbose = new LogFormatter(out, "cloud", "cyan", true);
    verbose.print("", { level: 30, msg: "store open" });
    expect(lines.at(-1)).toBe("cloud  │ INFO  store open");
  });

  it("colors only on a terminal without NO_COLOR", () => {
    expect(new Output({ write: () => true, isTTY: true }, {}).color).toBe(true);
    expect(new Output({ write: () => true, isTTY: true }, { NO_COLOR: "1" }).color).toBe(false);
    expect(new Output({ write: () => true, isTTY: false }, {}).color).toBe(false);
  });
});
