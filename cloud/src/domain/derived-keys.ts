/**
 * Derived report keys of one cloud process, by everything their derivation binds (docs/reports.md "Report key": the
 * cloud may keep them, with the care of a private key: never logged, never answered). At capacity the least recently
 * used is dropped, one at a time, so a site of more locks than fit re-derives only its coldest ones.
 *
 * An evicted key is dropped, not zeroed: an upload still verifying its batch may hold it (two bridges' uploads, or two
 * upload lanes of one, interleave at their awaits), and a zeroed key would make the cloud refuse that lock's authentic
 * reports as `bad_mac`, which a bridge must take as final (the events would be lost).
 */
export class DerivedKeys {
  private readonly keys = new Map<string, Uint8Array>();

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError("capacity must be a positive integer");
  }

  get size(): number {
    return this.keys.size;
  }

  get(name: string): Uint8Array | undefined {
    const key = this.keys.get(name);
    if (key === undefined) return undefined;
    // Map keeps insertion order: moving a hit to the end keeps the first entry the least recently used.
    this.keys.delete(name);
    this.keys.set(name, key);
    return key;
  }

  set(name: string, key: Uint8Array): void {
    this.keys.delete(name);
    this.keys.set(name, key);
    while (this.keys.size > this.capacity) {
      const oldest = this.keys.keys().next().value as string;
      this.keys.delete(oldest);
    }
  }
}
