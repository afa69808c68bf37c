import { describe, expect, it } from "vitest";
import { Counter, Registry } from "../src/ops/exposition.js";
import { BridgeMetrics } from "../src/ops/metrics.js";

/** The bridge's own Prometheus exposition (bridge/README.md "Metrics and health"), in place of prom-client's. */
describe("metrics exposition", () => {
  it("writes counters with their help, type and escaped labels", async () => {
    const registry = new Registry();
    const plain = new Counter("x_plain_total", "A counter\\ with a\nnewline");
    const labelled = new Counter<"kind">("x_labelled_total", "By kind", ["kind"]);
    registry.register(plain);
    registry.register(labelled);
    plain.inc();
    plain.inc(2);
    labelled.inc({ kind: 'a"b\\c\nd' });
    labelled.labels("event").inc();
    labelled.labels("event").inc(4);
    expect(await registry.metrics()).toBe(
      [
        "# HELP x_plain_total A counter\\\\ with a\\nnewline",
        "# TYPE x_plain_total counter",
        "x_plain_total 3",
        "# HELP x_labelled_total By kind",
        "# TYPE x_labelled_total counter",
        'x_labelled_total{kind="a\\"b\\\\c\\nd"} 1',
        'x_labelled_total{kind="event"} 5',
        "",
      ].join("\n"),
    );
    expect(labelled.value({ kind: "event" })).toBe(5);
    expect(labelled.value({ kind: "other" })).toBe(0);
  });

  it("answers the bridge's metrics with the process metrics an operator reads, gauges read when scraped", async () => {
    const metrics = new BridgeMetrics();
    let items = 7;
    metrics.gauge("outbox_items", "Items waiting in the outbox", () => items);
    metrics.gauge("by_state", "By state", () => ({ ok: 1, error: 2 }), "state");
    metrics.outboxAdded.inc({ kind: "event" }, 3);
    items = 9;
    const text = await metrics.registry.metrics();
    expect(text).toContain("latchkey_bridge_outbox_items 9\n");
    expect(text).toContain('latchkey_bridge_by_state{state="ok"} 1\nlatchkey_bridge_by_state{state="error"} 2\n');
    expect(text).toContain('latchkey_bridge_outbox_added_total{kind="event"} 3\n');
    expect(text).toContain("latchkey_bridge_outbox_refused_total 0\n");
    const value = (name: string) => Number(text.match(new RegExp(`^latchkey_bridge_${name} (\\S+)$`, "m"))?.[1]);
    expect(value("process_resident_memory_bytes")).toBeGreaterThan(10_000_000);
    expect(value("process_cpu_seconds_total")).toBeGreaterThan(0);
    expect(value("process_start_time_seconds")).toBeGreaterThan(1_500_000_000);
    expect(value("nodejs_heap_size_used_bytes")).toBeGreaterThan(0);
    expect(value("nodejs_eventloop_lag_seconds")).toBeGreaterThanOrEqual(0);
    expect(text).toMatch(/^latchkey_bridge_nodejs_version_info\{version="v\d+\.\d+\.\d+",major="\d+",/m);
    // promtool's rules: a `_total` name is a counter's, and every sample follows its HELP and TYPE.
    for (const [, name, type] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm))
      expect(`${name} ${type}`).toBe(`${name} ${name!.endsWith("_total") ? "counter" : "gauge"}`);
    for (const line of text.split("\n").filter((l) => l && !l.startsWith("#")))
      expect(text).toContain(`# TYPE ${line.split(/[{ ]/)[0]} `);
  });
});
