import type { Clock } from "@latchkey/protocol";

/**
 * The time the bridge vouches for in `sync` (locks set an unset clock from it, and only ever move their clock forward
 * with it). Source `system`: the bridge's clock. Source `cloud`: the bridge's clock corrected by the offset seen in
 * the cloud's HTTP `Date` headers, for gateways without a battery-backed clock or NTP. The header has one-second
 * resolution, so offsets under 1.5 s are ignored rather than adding noise.
 */
export class TrustedTime {
  private offsetMs = 0;
  private observed = false;

  constructor(
    private readonly clock: Clock,
    private readonly source: "system" | "cloud",
  ) {}

  observeCloud(cloudMs: number, localMs: number): void {
    if (this.source !== "cloud") return;
    const offset = cloudMs + 500 - localMs; // the header truncates to the second: its midpoint is 500 ms later
    this.offsetMs = Math.abs(offset) < 1500 ? 0 : offset;
    this.observed = true;
  }

  /** Unix milliseconds. */
  now(): number {
    return this.clock.now() + this.offsetMs;
  }

  nowSeconds(): number {
    return Math.floor(this.now() / 1000);
  }

  get status(): { source: string; offsetMs: number; synchronized: boolean } {
    return { source: this.source, offsetMs: this.offsetMs, synchronized: this.source === "system" || this.observed };
  }
}
