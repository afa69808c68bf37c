/** Longest a lock's PUBACK waits for the backlog: its connection is not read meanwhile (keepalive, pings). */
export const HOLD_MAX_MS = 1_000;

/**
 * Backpressure from the upload to the MQTT ingest (docs/mqtt.md "Upload"): while the uploader is delivering batches
 * and more than `bound` items wait in the outbox, a lock's report is still stored at once (durable before its PUBACK,
 * as ever), but its PUBACK waits until the backlog is back at the bound, or `HOLD_MAX_MS`. The lock keeps publishing
 * no faster than its window of unacknowledged messages allows, so the bridge accepts about what it delivers instead of
 * piling up a backlog while the cloud is slower than the locks, and the CPU it would spend accepting goes to the upload
 * (on a gateway that also runs other work) instead. Nothing is held while the upload is not delivering (cloud
 * unreachable, failing, backing off, or nothing uploadable): then the outbox is the buffer it is for. The lock loses
 * nothing by waiting: it frees an event only on the signed state's `ack`, never on a PUBACK (docs/mqtt.md).
 *
 * One shared promise per closed spell, released by a delivered batch that brings the backlog to the bound, by the
 * upload stalling, or by one timer at `HOLD_MAX_MS`: no timer or promise per held message.
 */
export class UploadBackpressure {
  /** Whether the uploader's last batch was delivered and its round goes on. */
  private delivering = false;
  private held: { promise: Promise<void>; release: () => void; timer: NodeJS.Timeout } | null = null;

  constructor(
    /** Items in the outbox above which PUBACKs wait; 0 turns backpressure off. */
    private readonly bound: number,
    /** Items waiting in the outbox now. */
    private readonly backlog: () => number,
    /** Counts each PUBACK held (`latchkey_bridge_upload_backpressure_holds_total`). */
    private readonly counted: { inc(): void } | null = null,
    private readonly holdMaxMs = HOLD_MAX_MS,
  ) {}

  /** Whether PUBACKs wait now. */
  get closed(): boolean {
    return this.bound > 0 && this.delivering && this.backlog() > this.bound;
  }

  /**
   * After a report was stored: null when its PUBACK may go now (no promise on the hot path), else a promise resolved
   * when it may.
   */
  hold(): Promise<void> | null {
    if (!this.closed) return null;
    this.counted?.inc();
    if (this.held) return this.held.promise;
    let release!: () => void;
    const promise = new Promise<void>((resolve) => {
      release = resolve;
    });
    const timer = setTimeout(() => this.release(), this.holdMaxMs);
    timer.unref?.();
    this.held = { promise, release, timer };
    return promise;
  }

  /** The uploader delivered a batch (its items left the outbox) and goes on. */
  delivered(): void {
    this.delivering = true;
    if (this.backlog() <= this.bound) this.release();
  }

  /** The uploader stopped delivering: a failure (backing off), nothing uploadable left, or the bridge stopping. */
  stalled(): void {
    this.delivering = false;
    this.release();
  }

  private release(): void {
    const held = this.held;
    if (!held) return;
    this.held = null;
    clearTimeout(held.timer);
    held.release();
  }
}
