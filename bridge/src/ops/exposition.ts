import { readdirSync } from "node:fs";

/**
 * The bridge's Prometheus text exposition (format 0.0.4): counters, gauges read at scrape time, and the process
 * metrics an operator watches. Written here rather than with prom-client, which cost the idle bridge ~2 MB of
 * resident memory for what is a few dozen lines of text (issue 17); the cloud keeps prom-client. The names and the
 * format are those prom-client gave (bridge/README.md "Metrics and health").
 */

interface Metric {
  write(out: string[]): void | Promise<void>;
}

/** A registry: what `/metrics` answers (runtime's `MetricsText`). */
export class Registry {
  readonly contentType = "text/plain; version=0.0.4; charset=utf-8";
  private readonly all: Metric[] = [];

  register(metric: Metric): void {
    this.all.push(metric);
  }

  async metrics(): Promise<string> {
    const out: string[] = [];
    for (const metric of this.all) await metric.write(out);
    return `${out.join("\n")}\n`;
  }
}

/** A counter child bound to its label values: `inc` without a lookup. */
export interface BoundCounter {
  inc(by?: number): void;
}

export class Counter<L extends string = string> implements Metric {
  private readonly values = new Map<string, { labels: string; value: number }>();

  constructor(
    readonly name: string,
    private readonly help: string,
    private readonly labelNames: readonly L[] = [],
  ) {
    if (labelNames.length === 0) this.values.set("", { labels: "", value: 0 });
  }

  inc(labelsOrBy?: Partial<Record<L, string | number>> | number, by = 1): void {
    if (typeof labelsOrBy === "number") this.child([]).value += labelsOrBy;
    else this.child(this.labelNames.map((n) => String(labelsOrBy?.[n] ?? ""))).value += by;
  }

  /** The child of these label values (in `labelNames` order), for a hot path. */
  labels(...values: Array<string | number>): BoundCounter {
    const child = this.child(values.map(String));
    return {
      inc: (by = 1) => {
        child.value += by;
      },
    };
  }

  /** The count of these labels (0 when never counted). */
  value(labels: Partial<Record<L, string | number>> = {}): number {
    return this.values.get(this.labelNames.map((n) => String(labels[n] ?? "")).join("\u0000"))?.value ?? 0;
  }

  private child(values: string[]): { labels: string; value: number } {
    const key = values.join("\u0000");
    let child = this.values.get(key);
    if (!child) {
      child = { labels: labelText(this.labelNames, values), value: 0 };
      this.values.set(key, child);
    }
    return child;
  }

  write(out: string[]): void {
    header(out, this.name, this.help, "counter");
    for (const { labels, value } of this.values.values()) out.push(`${this.name}${labels} ${value}`);
  }
}

/** A gauge read when scraped: one number, or one per label value. */
export class Gauge implements Metric {
  constructor(
    readonly name: string,
    private readonly help: string,
    private readonly read: () => number | Record<string, number> | Promise<number>,
    private readonly labelName = "label",
  ) {}

  async write(out: string[]): Promise<void> {
    const value = await this.read();
    header(out, this.name, this.help, "gauge");
    if (typeof value === "number") out.push(`${this.name} ${value}`);
    else
      for (const [label, v] of Object.entries(value))
        out.push(`${this.name}${labelText([this.labelName], [label])} ${v}`);
  }
}

/**
 * The process metrics prom-client's defaults gave that an operator reads (CPU, memory, file descriptors, heap, event
 * loop lag, Node's version), under the same names.
 */
export function registerProcessMetrics(registry: Registry, prefix: string): void {
  const cpu = (pick: (u: NodeJS.CpuUsage) => number) => () => pick(process.cpuUsage()) / 1e6;
  const counter = (name: string, help: string, read: () => number): Metric => ({
    write(out) {
      header(out, prefix + name, help, "counter");
      out.push(`${prefix}${name} ${read()}`);
    },
  });
  const gauge = (name: string, help: string, read: () => number | Promise<number>) =>
    registry.register(new Gauge(prefix + name, help, read));
  registry.register(
    counter(
      "process_cpu_user_seconds_total",
      "Total user CPU time spent in seconds.",
      cpu((u) => u.user),
    ),
  );
  registry.register(
    counter(
      "process_cpu_system_seconds_total",
      "Total system CPU time spent in seconds.",
      cpu((u) => u.system),
    ),
  );
  registry.register(
    counter(
      "process_cpu_seconds_total",
      "Total user and system CPU time spent in seconds.",
      cpu((u) => u.user + u.system),
    ),
  );
  const started = Math.round(Date.now() / 1000 - process.uptime());
  gauge("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", () => started);
  gauge("process_resident_memory_bytes", "Resident memory size in bytes.", () => process.memoryUsage.rss());
  gauge("process_open_fds", "Number of open file descriptors.", openFds);
  gauge(
    "nodejs_heap_size_total_bytes",
    "Process heap size from Node.js in bytes.",
    () => process.memoryUsage().heapTotal,
  );
  gauge(
    "nodejs_heap_size_used_bytes",
    "Process heap size used from Node.js in bytes.",
    () => process.memoryUsage().heapUsed,
  );
  gauge("nodejs_external_memory_bytes", "Node.js external memory size in bytes.", () => process.memoryUsage().external);
  gauge("nodejs_eventloop_lag_seconds", "Lag of event loop in seconds.", eventLoopLag);
  const [major, minor, patch] = process.versions.node.split(".");
  registry.register({
    write(out) {
      header(out, `${prefix}nodejs_version_info`, "Node.js version info.", "gauge");
      const labels = labelText(["version", "major", "minor", "patch"], [process.version, major, minor, patch]);
      out.push(`${prefix}nodejs_version_info${labels} 1`);
    },
  });
}

/** How long a callback queued now waits for the event loop (what prom-client measured at scrape). */
function eventLoopLag(): Promise<number> {
  const start = process.hrtime.bigint();
  return new Promise((resolve) => setImmediate(() => resolve(Number(process.hrtime.bigint() - start) / 1e9)));
}

/** Linux: the entries of /proc/self/fd less the one reading it; elsewhere 0. */
function openFds(): number {
  try {
    return readdirSync("/proc/self/fd").length - 1;
  } catch {
    return 0;
  }
}

function header(out: string[], name: string, help: string, type: "counter" | "gauge"): void {
  out.push(`# HELP ${name} ${help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")}`, `# TYPE ${name} ${type}`);
}

function labelText(names: readonly string[], values: ReadonlyArray<string | undefined>): string {
  if (names.length === 0) return "";
  const pairs = names.map((n, i) => `${n}="${escapeLabel(values[i] ?? "")}"`);
  return `{${pairs.join(",")}}`;
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}
