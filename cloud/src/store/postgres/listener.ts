import { Client, type ClientConfig } from "pg";
import { FEED_CHANNEL } from "./sql.js";

export interface ListenerOptions {
  config: ClientConfig;
  /** Only notifications from this schema's feed count (other deployments or tests may share the database). */
  schema: string;
  /** Listeners are also called this often, in case a notification was lost (ms). */
  fallbackPollMs: number;
  onError(err: unknown): void;
}

const RECONNECT_MAX_MS = 10_000;

/**
 * LISTENs on its own connection (a pooled one would be handed to transactions) for the NOTIFY that every commit
 * appending to the change feed sends (PgSql.appendChanges), and calls its listeners. It reconnects with backoff when the
 * connection drops, then calls the listeners once, since changes may have been committed while nobody listened; and it
 * calls them every `fallbackPollMs` regardless, so a lost notification costs at most that much delay.
 */
export class ChangeListener {
  private readonly listeners = new Set<() => void>();
  private client: Client | undefined;
  private started = false;
  private closed = false;
  private failures = 0;
  private poll: NodeJS.Timeout | undefined;
  private retry: NodeJS.Timeout | undefined;
  private markListening: () => void = () => {};
  /** Resolves once LISTEN is in place (the first time). */
  readonly listening = new Promise<void>((resolve) => {
    this.markListening = resolve;
  });

  constructor(private readonly options: ListenerOptions) {}

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    if (!this.started) this.start();
    return () => this.listeners.delete(listener);
  }

  private start(): void {
    this.started = true;
    this.poll = setInterval(() => this.fire(), this.options.fallbackPollMs);
    this.poll.unref();
    void this.connect();
  }

  private fire(): void {
    for (const listener of this.listeners) listener();
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    const client = new Client(this.options.config);
    client.on("notification", (message) => {
      if (message.channel === FEED_CHANNEL && message.payload === this.options.schema) this.fire();
    });
    const lost = (err?: unknown) => {
      if (this.client !== client) return;
      this.client = undefined;
      client.end().catch(() => undefined);
      if (this.closed) return;
      this.options.onError(err ?? new Error("the LISTEN connection ended"));
      this.reconnectLater();
    };
    client.on("error", lost);
    client.on("end", () => lost());
    try {
      await client.connect();
      await client.query(`LISTEN ${FEED_CHANNEL}`);
    } catch (err) {
      client.end().catch(() => undefined);
      if (this.closed) return;
      this.options.onError(err);
      this.reconnectLater();
      return;
    }
    if (this.closed) {
      await client.end().catch(() => undefined);
      return;
    }
    this.client = client;
    if (this.failures > 0) this.fire();
    this.failures = 0;
    this.markListening();
  }

  private reconnectLater(): void {
    this.failures++;
    const delay = Math.min(RECONNECT_MAX_MS, 100 * 2 ** Math.min(this.failures, 10));
    this.retry = setTimeout(() => void this.connect(), delay);
    this.retry.unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.poll);
    clearTimeout(this.retry);
    this.listeners.clear();
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }
}
