import { Writable } from "node:stream";
import type { ManagedChild } from "@latchkey/scripts";

/**
 * Every log line of every process a test runs, in one place: in-process loggers write to `stream()`, children are
 * `attach`ed (their lines so far and every later one). Tests grep it for secrets and count the log lines that say a
 * message was dropped.
 */
export class LogSink {
  readonly lines: string[] = [];

  /** A writable for pino (`logStream`); each line is kept with the source's name. */
  stream(source: string): Writable {
    let partial = "";
    return new Writable({
      write: (chunk: Buffer, _enc, done) => {
        const text = partial + chunk.toString("utf8");
        const parts = text.split("\n");
        partial = parts.pop() ?? "";
        for (const line of parts) if (line.trim()) this.lines.push(`${source} ${line}`);
        done();
      },
      final: (done) => {
        if (partial.trim()) this.lines.push(`${source} ${partial}`);
        done();
      },
    });
  }

  attach(source: string, child: ManagedChild): void {
    for (const line of child.lines) this.lines.push(`${source} ${line.text}`);
    child.on("line", (line) => this.lines.push(`${source} ${line.text}`));
  }

  text(): string {
    return this.lines.join("\n");
  }

  /** The pino records (JSON lines) whose `msg` is `msg`. */
  records(msg: string): Array<Record<string, unknown>> {
    const out: Array<Record<string, unknown>> = [];
    for (const line of this.lines) {
      // A line is "<source> <record>", and a source name may hold spaces ("lock <id>").
      const start = line.indexOf(" {");
      if (start < 0) continue;
      const json = line.slice(start + 1);
      if (!json.includes(msg)) continue;
      try {
        const record = JSON.parse(json) as Record<string, unknown>;
        if (record.msg === msg) out.push(record);
      } catch {
        // not JSON
      }
    }
    return out;
  }
}

/**
 * The secrets a test made (client secrets, bridge secrets, webhook secrets, site secret and lock passwords, issuer
 * private keys, one-time codes, access tokens): `foundIn(text)` names each one that appears in the text.
 */
export class Secrets {
  private readonly values = new Map<string, string>();

  add(label: string, value: string | undefined): void {
    // Short values would match by accident; every real secret here is long.
    if (value && value.length >= 8) this.values.set(value, label);
  }

  get size(): number {
    return this.values.size;
  }

  foundIn(text: string): string[] {
    const found: string[] = [];
    for (const [value, label] of this.values) if (text.includes(value)) found.push(label);
    return found;
  }
}
