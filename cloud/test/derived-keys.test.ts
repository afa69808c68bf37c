import { describe, expect, it } from "vitest";
import { DerivedKeys } from "../src/domain/derived-keys.js";

const key = (n: number) => new Uint8Array(32).fill(n);

describe("the derived report keys of a cloud process", () => {
  it("keeps a key handed to an upload intact when later derivations overflow the cache", () => {
    // Before: a full cache was cleared and every key in it zeroed, including keys an upload had just read for its
    // batch, so that lock's authentic reports were refused as bad_mac (and a bridge drops what the cloud refused).
    const cache = new DerivedKeys(2);
    cache.set("lock-a", key(1));
    const inUse = cache.get("lock-a")!;
    cache.set("lock-b", key(2));
    cache.set("lock-c", key(3));
    cache.set("lock-d", key(4));
    expect(inUse).toEqual(key(1));
  });

  it("drops the least recently used key first, one at a time", () => {
    const cache = new DerivedKeys(3);
    cache.set("a", key(1));
    cache.set("b", key(2));
    cache.set("c", key(3));
    cache.get("a");
    cache.set("d", key(4));
    expect(cache.size).toBe(3);
    expect(cache.get("b")).toBeUndefined();
    expect(cache.get("a")).toEqual(key(1));
    expect(cache.get("c")).toEqual(key(3));
    expect(cache.get("d")).toEqual(key(4));
  });

  it("refuses a capacity that could hold nothing", () => {
    expect(() => new DerivedKeys(0)).toThrow(/capacity/);
  });
});
