import { describe, expect, it } from "vitest";
import { pooledRandom } from "../src/security/ids.js";

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");

describe("pooledRandom (the cloud's CSPRNG source, security/ids.ts)", () => {
  it("hands every byte out once, across refills of the pool", () => {
    const random = pooledRandom(64);
    const seen = new Set<string>();
    // 16-byte values over 100 refills of a 64-byte pool: a byte handed out twice would repeat a value.
    for (let i = 0; i < 400; i++) {
      const value = random(16);
      expect(value).toHaveLength(16);
      seen.add(hex(value));
    }
    expect(seen.size).toBe(400);
  });

  it("answers copies: changing one cannot change the next answer", () => {
    const random = pooledRandom(64);
    const first = random(8);
    first.fill(0xaa);
    const second = random(8);
    expect(hex(second)).not.toBe("aa".repeat(8));
    expect(first.buffer).not.toBe(second.buffer);
  });

  it("draws a request larger than the pool on its own, and a request that does not fit from a fresh pool", () => {
    const random = pooledRandom(32);
    expect(random(100)).toHaveLength(100);
    random(30);
    const straddling = random(8);
    expect(straddling).toHaveLength(8);
    expect(hex(straddling)).not.toBe("00".repeat(8));
    expect(random(0)).toHaveLength(0);
  });
});
