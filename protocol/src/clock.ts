/**
 * Time is passed in, never read from a global: firmware logic, token checks and tests all run on a clock someone
 * hands them. Milliseconds since the Unix epoch.
 */
export interface Clock {
  now(): number;
}

/** A clock that moves only when told to: for tests and simulations. */
export class ManualClock implements Clock {
  constructor(private ms: number = 1_800_000_000_000) {}
  now(): number {
    return this.ms;
  }
  set(ms: number): void {
    this.ms = ms;
  }
  advance(ms: number): number {
    this.ms += ms;
    return this.ms;
  }
}

export const unixSeconds = (clock: Clock): number => Math.floor(clock.now() / 1000);
