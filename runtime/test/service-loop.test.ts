import { describe, expect, it } from "vitest";
import { Backoff, ServiceLoop, type Timers } from "../src/index.js";

/** A fixed, uneven [0, 1) sequence, so jitter is the same on every run. */
const cycling = (...values: number[]) => {
  let i = 0;
  return () => values[i++ % values.length]!;
};

/** Timers a test moves by hand: `advance` fires what is due, in order, letting each round run in between. */
class ManualTimers implements Timers {
  now = 0;
  private seq = 0;
  private readonly due = new Map<number, { at: number; fn: () => void }>();

  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.seq;
    this.due.set(id, { at: this.now + ms, fn });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.due.delete(handle as number);
  }

  /** The delays of the timers pending now, from now. */
  pending(): number[] {
    return [...this.due.values()].map((t) => t.at - this.now).sort((a, b) => a - b);
  }

  async advance(ms: number): Promise<void> {
    const end = this.now + ms;
    for (;;) {
      await settle();
      const next = [...this.due.entries()].sort((a, b) => a[1].at - b[1].at)[0];
      if (!next || next[1].at > end) break;
      this.due.delete(next[0]);
      this.now = next[1].at;
      next[1].fn();
    }
    this.now = end;
    await settle();
  }
}

const settle = async () => {
  for (let i = 0; i < 20; i++) await Promise.resolve();
};

describe("backoff", () => {
  it("doubles up to the cap with jitter in [d/2, d], and starts over after a success", () => {
    const backoff = new Backoff(100, 1000, cycling(0.1, 0.7, 0.3, 0.9, 0.5));
    const delays = Array.from({ length: 8 }, () => backoff.next());
    const nominal = [100, 200, 400, 800, 1000, 1000, 1000, 1000];
    delays.forEach((d, i) => {
      expect(d).toBeGreaterThanOrEqual(nominal[i]! / 2);
      expect(d).toBeLessThanOrEqual(nominal[i]!);
    });
    expect(new Set(delays.slice(4)).size).toBeGreaterThan(1);
    backoff.reset();
    expect(backoff.next()).toBeLessThanOrEqual(100);
  });
});

describe("service loop", () => {
  it("runs a round at start, then after the delay the round gives, or idleMs when it gives none", async () => {
    const timers = new ManualTimers();
    const answers: Array<number | undefined> = [50, undefined];
    const at: number[] = [];
    const loop = new ServiceLoop({
      round: async () => {
        at.push(timers.now);
        return answers.shift();
      },
      idleMs: 1000,
      timers,
    });
    loop.start();
    await timers.advance(2500);
    expect(at).toEqual([0, 50, 1050, 2050]);
    await loop.stop();
  });

  it("a wake-up ends an idle wait, and one made during a round gives another round", async () => {
    const timers = new ManualTimers();
    let rounds = 0;
    let wakeDuringRound = false;
    const loop = new ServiceLoop({
      round: async () => {
        rounds++;
        if (wakeDuringRound) {
          wakeDuringRound = false;
          loop.wake();
        }
      },
      timers,
    });
    loop.wake(); // before start: nothing
    loop.start();
    await timers.advance(10_000);
    expect(rounds).toBe(1);
    loop.wake();
    await timers.advance(0);
    expect(rounds).toBe(2);
    wakeDuringRound = true;
    loop.wake();
    await timers.advance(0);
    expect(rounds).toBe(4);
    await loop.stop();
    loop.wake();
    await timers.advance(10_000);
    expect(rounds).toBe(4);
  });

  it("settles after a wake-up, so a burst of wake-ups makes one round", async () => {
    const timers = new ManualTimers();
    let rounds = 0;
    const loop = new ServiceLoop({
      round: async () => {
        rounds++;
      },
      settleMs: 200,
      timers,
    });
    loop.start();
    await timers.advance(0);
    for (let i = 0; i < 5; i++) loop.wake();
    await timers.advance(100);
    loop.wake();
    expect(rounds).toBe(1);
    await timers.advance(100);
    expect(rounds).toBe(2);
    await loop.stop();
  });

  it("backs off failed rounds with jitter, reports each with its delay, a wake-up does not cut it short", async () => {
    const timers = new ManualTimers();
    const errors: Array<[string, number]> = [];
    let fail = 3;
    let rounds = 0;
    const backoff = new Backoff(100, 1000, cycling(0.4, 0.8));
    const loop = new ServiceLoop({
      round: async () => {
        rounds++;
        if (fail-- > 0) throw new Error(`down ${rounds}`);
      },
      backoff,
      onError: (err, retryInMs) => errors.push([(err as Error).message, retryInMs]),
      timers,
    });
    loop.start();
    await timers.advance(0);
    expect(loop.failures).toBe(1);
    const first = errors[0]![1];
    expect(first).toBeGreaterThanOrEqual(50);
    expect(first).toBeLessThanOrEqual(100);
    loop.wake();
    await timers.advance(first - 1);
    expect(rounds).toBe(1);
    await timers.advance(1);
    expect(rounds).toBe(2);
    await timers.advance(10_000);
    expect(errors.map(([m]) => m)).toEqual(["down 1", "down 2", "down 3"]);
    expect(errors[1]![1]).toBeGreaterThanOrEqual(100);
    expect(errors[2]![1]).toBeGreaterThanOrEqual(200);
    expect(rounds).toBe(4);
    // The success reset the backoff.
    expect(loop.failures).toBe(0);
    await loop.stop();
  });

  it("without a backoff a failed round waits idleMs, and a wake-up still brings the next one", async () => {
    const timers = new ManualTimers();
    let rounds = 0;
    const loop = new ServiceLoop({
      round: async () => {
        rounds++;
        throw new Error("always");
      },
      idleMs: 1000,
      timers,
    });
    loop.start();
    await timers.advance(0);
    expect(timers.pending()).toEqual([1000]);
    loop.wake();
    await timers.advance(0);
    expect(rounds).toBe(2);
    await loop.stop();
  });

  it("stop aborts the round in progress and reports no failure for it", async () => {
    const errors: unknown[] = [];
    let aborted = false;
    const loop = new ServiceLoop({
      round: (signal) =>
        new Promise((_, reject) =>
          signal.addEventListener("abort", () => {
            aborted = true;
            reject(new Error("aborted"));
          }),
        ),
      backoff: new Backoff(10, 100, cycling(0.5)),
      onError: (err) => errors.push(err),
    });
    loop.start();
    await loop.stop();
    expect(aborted).toBe(true);
    expect(errors).toEqual([]);
  });

  it("stop with a grace lets the round finish on its own, and aborts it once the grace is over", async () => {
    const timers = new ManualTimers();
    let finish: () => void = () => {};
    let signalOf: AbortSignal | null = null;
    let rounds = 0;
    const loop = new ServiceLoop({
      round: (signal) => {
        rounds++;
        signalOf = signal;
        return new Promise<undefined>((resolve) => {
          finish = () => resolve(undefined);
          signal.addEventListener("abort", () => resolve(undefined));
        });
      },
      timers,
    });
    loop.start();
    expect(loop.stopping).toBe(false);
    const stopped = loop.stop(1000);
    expect(loop.stopping).toBe(true);
    await timers.advance(500);
    expect(signalOf!.aborted).toBe(false);
    finish();
    await stopped;
    expect(rounds).toBe(1);
    expect(signalOf!.aborted).toBe(false);

    const slow = new ServiceLoop({
      round: (signal) => new Promise((r) => signal.addEventListener("abort", r)),
      timers,
    });
    slow.start();
    const slowStop = slow.stop(1000);
    await timers.advance(1000);
    await slowStop;
  });
});
