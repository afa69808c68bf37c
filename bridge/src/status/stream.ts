import type { ServerResponse } from "node:http";
import type { LockStatus, SiteStatus } from "./snapshot.js";

export interface StatusSources {
  site(): SiteStatus;
  locks(): LockStatus[];
  /** Unix ms (the bridge's clock: the page shows ages against it). */
  now(): number;
}

/** A client whose unsent data passes this is dropped; its EventSource reconnects and starts from a snapshot. */
const MAX_BUFFERED_BYTES = 1 << 20;
const KEEPALIVE_MS = 15_000;

/**
 * Live updates of the status page over Server-Sent Events (`GET /status/events`). A client gets `snapshot` (everything)
 * when it connects, then `site` (all but the locks) when it changed and `locks` `{changed, removed}` with each lock
 * whose row changed. Changes are found by comparing what would be sent with what was sent, every `tickMs` while
 * anyone listens, so no part of the bridge has to report them and nothing runs when nobody looks.
 */
export class StatusStream {
  private readonly clients = new Set<ServerResponse>();
  private timer: NodeJS.Timeout | null = null;
  private keepalive: NodeJS.Timeout | null = null;
  private lastSite = "";
  private lastLocks = new Map<string, string>();

  constructor(
    private readonly sources: StatusSources,
    private readonly tickMs = 250,
  ) {}

  get listeners(): number {
    return this.clients.size;
  }

  /** The whole status now (also `GET /status/snapshot.json`). */
  snapshot(): { now: number; site: SiteStatus; locks: LockStatus[] } {
    return { now: this.sources.now(), site: this.sources.site(), locks: this.sources.locks() };
  }

  attach(res: ServerResponse): void {
    res.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-store",
      "x-accel-buffering": "no",
    });
    res.write("retry: 2000\n\n");
    this.clients.add(res);
    res.on("close", () => this.detach(res));
    if (this.clients.size === 1) this.rebase();
    this.send(res, "snapshot", this.snapshot());
    if (!this.timer) {
      this.timer = setInterval(() => this.tick(), this.tickMs);
      this.keepalive = setInterval(() => {
        for (const c of this.clients) c.write(": keepalive\n\n");
      }, KEEPALIVE_MS);
      this.timer.unref();
      this.keepalive.unref();
    }
  }

  close(): void {
    for (const c of this.clients) c.end();
    this.clients.clear();
    this.stopTimers();
  }

  private detach(res: ServerResponse): void {
    this.clients.delete(res);
    if (this.clients.size === 0) this.stopTimers();
  }

  private stopTimers(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.keepalive) clearInterval(this.keepalive);
    this.timer = this.keepalive = null;
  }

  /** What the first client is sent is the base the next changes are found against. */
  private rebase(): void {
    this.lastSite = JSON.stringify(this.sources.site());
    this.lastLocks = new Map(this.sources.locks().map((l) => [l.lockId, JSON.stringify(l)]));
  }

  private tick(): void {
    if (this.clients.size === 0) return;
    const site = this.sources.site();
    const siteText = JSON.stringify(site);
    if (siteText !== this.lastSite) {
      this.lastSite = siteText;
      this.broadcast("site", { now: this.sources.now(), site });
    }
    const changed: LockStatus[] = [];
    const current = new Map<string, string>();
    for (const lock of this.sources.locks()) {
      const text = JSON.stringify(lock);
      current.set(lock.lockId, text);
      if (this.lastLocks.get(lock.lockId) !== text) changed.push(lock);
    }
    const removed = [...this.lastLocks.keys()].filter((id) => !current.has(id));
    this.lastLocks = current;
    if (changed.length > 0 || removed.length > 0)
      this.broadcast("locks", { now: this.sources.now(), changed, removed });
  }

  private broadcast(event: string, data: unknown): void {
    const text = frame(event, data);
    for (const c of this.clients) this.write(c, text);
  }

  private send(res: ServerResponse, event: string, data: unknown): void {
    this.write(res, frame(event, data));
  }

  private write(res: ServerResponse, text: string): void {
    if (res.writableLength > MAX_BUFFERED_BYTES) {
      res.destroy();
      this.detach(res);
      return;
    }
    res.write(text);
  }
}

/** One SSE message; JSON has no raw newlines, so one `data:` line carries it. */
const frame = (event: string, data: unknown): string => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
