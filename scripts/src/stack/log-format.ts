import type { Output, Style } from "./output.js";

/**
 * Turns the children's pino JSON lines into short readable ones: level, message and the interesting fields. Request
 * logs of fastify become one `METHOD /path → status (ms)` line per request; the bridge's own API traffic (long-polls,
 * heartbeats, ingest) is hidden unless it fails or --verbose is on.
 */

type LogRecord = Record<string, unknown>;

const LEVELS: Record<number, [string, Style]> = {
  10: ["TRACE", "gray"],
  20: ["DEBUG", "gray"],
  30: ["INFO", "green"],
  40: ["WARN", "yellow"],
  50: ["ERROR", "red"],
  60: ["FATAL", "red"],
};

/** Fields every pino line has, or that say nothing to a reader of the terminal. */
const NOISE = new Set(["level", "time", "pid", "hostname", "msg", "service", "reqId", "v"]);

function fieldText(value: unknown): string {
  if (typeof value === "string") return /[\s"]/.test(value) ? JSON.stringify(value) : value;
  const text = JSON.stringify(value);
  return text === undefined ? String(value) : text.length > 120 ? `${text.slice(0, 117)}...` : text;
}

export class LogFormatter {
  private readonly requests = new Map<string, { method: string; url: string }>();

  constructor(
    private readonly output: Output,
    private readonly source: string,
    private readonly sourceColor: Style,
    private readonly verbose: boolean,
  ) {}

  /** Formats and prints one line of the child's output (JSON or not). */
  print(text: string, record: LogRecord | null): void {
    if (record === null) {
      // The cloud's "listening on" line for people repeats its JSON one.
      if (!this.verbose && text.startsWith("latchkey-cloud listening on")) return;
      if (text.trim()) this.output.line(this.source, text, this.sourceColor);
      return;
    }
    const level = typeof record.level === "number" ? record.level : 30;
    if (this.output.quiet && !this.verbose && level < 40) {
      // Still tracked, so a request that completes later is named right.
      if (record.msg === "incoming request") this.format(record);
      else if (record.msg === "request completed") this.requests.delete(String(record.reqId));
      return;
    }
    const shown = this.format(record);
    if (shown !== null) this.output.line(this.source, shown, this.sourceColor);
  }

  /** The readable form of a record, or null to hide it. */
  format(record: LogRecord): string | null {
    const level = typeof record.level === "number" ? record.level : 30;
    const msg = typeof record.msg === "string" ? record.msg : "";
    if (msg === "incoming request") {
      const req = record.req as { method?: string; url?: string } | undefined;
      if (typeof record.reqId === "string" && req) {
        this.requests.set(record.reqId, { method: String(req.method), url: String(req.url) });
      }
      return null;
    }
    if (msg === "request completed") return this.completed(record, level);
    // fastify's own "Server listening at" repeats the cloud's "latchkey cloud listening".
    if (!this.verbose && msg.startsWith("Server listening at")) return null;
    const [name, color] = LEVELS[level] ?? ["INFO", "green"];
    const fields = Object.entries(record)
      .filter(([k]) => !NOISE.has(k))
      .map(([k, v]) =>
        k === "err" && typeof v === "object" && v && "message" in v
          ? `err=${fieldText((v as { message: unknown }).message)}`
          : `${k}=${fieldText(v)}`,
      );
    return `${this.output.style(name.padEnd(5), color)} ${msg}${fields.length ? ` ${this.output.style(fields.join(" "), "dim")}` : ""}`;
  }

  private completed(record: LogRecord, level: number): string | null {
    const reqId = typeof record.reqId === "string" ? record.reqId : "";
    const request = this.requests.get(reqId);
    this.requests.delete(reqId);
    const status = (record.res as { statusCode?: number } | undefined)?.statusCode ?? 0;
    const url = request?.url ?? "?";
    const quiet = url.startsWith("/bridge/v1/") || url.startsWith("/docs/static/") || url === "/docs/json";
    if (!this.verbose && quiet && status < 400) return null;
    const ms = typeof record.responseTime === "number" ? `${Math.round(record.responseTime)} ms` : "";
    const color: Style = status >= 500 ? "red" : status >= 400 ? "yellow" : "green";
    const [name, levelColor] = LEVELS[level] ?? ["INFO", "green"];
    return `${this.output.style(name.padEnd(5), levelColor)} ${request?.method ?? "?"} ${url} → ${this.output.style(String(status), color)} ${this.output.style(ms, "dim")}`;
  }
}
