import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { labelledMap } from "../src/cbor/labelled.js";
import { CborTag, decodeStrict, encodeCbor, fromHex, ProtocolError, toDiagnostic, toHex } from "../src/index.js";
import { cborValues } from "./vectors/cbor-values.js";

function malformed(hex: string, options = {}): string {
  try {
    decodeStrict(fromHex(hex), options);
  } catch (e) {
    expect(e).toBeInstanceOf(ProtocolError);
    expect((e as ProtocolError).code).toBe("malformed");
    return (e as Error).message;
  }
  throw new Error(`accepted ${hex}`);
}

describe("encodeCbor (deterministic)", () => {
  it("uses preferred integer and length encodings and untagged byte strings", () => {
    expect(toHex(encodeCbor(0))).toBe("00");
    expect(toHex(encodeCbor(23))).toBe("17");
    expect(toHex(encodeCbor(24))).toBe("1818");
    expect(toHex(encodeCbor(-8))).toBe("27");
    expect(toHex(encodeCbor(2 ** 32))).toBe("1b0000000100000000");
    expect(toHex(encodeCbor(new Uint8Array([1, 2])))).toBe("420102");
    expect(toHex(encodeCbor({ a: 1 }))).toBe("a1616101");
    expect(toHex(encodeCbor(new Map([[1, -8]])))).toBe("a10127");
    expect(toHex(encodeCbor(new CborTag(18, [])))).toBe("d280");
  });

  it("skips undefined object properties", () => {
    expect(toHex(encodeCbor({ a: 1, b: undefined }))).toBe("a1616101");
  });

  it("round-trips through the strict decoder for arbitrary values", () => {
    const key = fc.oneof(fc.integer({ min: -1000, max: 1000 }), fc.string({ maxLength: 8 }));
    const value = cborValues({
      stringMax: 300,
      bytesMax: 300,
      arrayMax: 30,
      leaves: [fc.maxSafeInteger()],
      nodes: (v) => [fc.uniqueArray(fc.tuple(key, v), { selector: ([k]) => k, maxLength: 30 }).map((e) => new Map(e))],
    });
    fc.assert(
      fc.property(value, (v) => {
        const bytes = encodeCbor(v);
        expect(decodeStrict(bytes, { maxDepth: 64 })).toEqual(v);
        // Re-encoding what was decoded gives the same bytes: the encoding is canonical for our value space.
        expect(toHex(encodeCbor(decodeStrict(bytes, { maxDepth: 64 })))).toBe(toHex(bytes));
      }),
      { seed: 42, numRuns: 500 },
    );
  });
});

describe("decodeStrict", () => {
  it("decodes the basic types", () => {
    expect(decodeStrict(fromHex("83010203"))).toEqual([1, 2, 3]);
    expect(decodeStrict(fromHex("3903e7"))).toBe(-1000);
    expect(decodeStrict(fromHex("1bffffffffffffffff"))).toBe(2n ** 64n - 1n);
    expect(decodeStrict(fromHex("3bffffffffffffffff"))).toBe(-(2n ** 64n));
    expect(decodeStrict(fromHex("84f4f5f6f7"))).toEqual([false, true, null, undefined]);
  });

  it("refuses indefinite lengths and breaks", () => {
    expect(malformed("9f01ff")).toMatch(/indefinite/);
    expect(malformed("bf616101ff")).toMatch(/indefinite/);
    expect(malformed("5f4101ff")).toMatch(/indefinite/);
    expect(malformed("ff")).toMatch(/break/);
  });

  it("refuses non-preferred integers, lengths and tags", () => {
    expect(malformed("1817")).toMatch(/non-preferred/);
    expect(malformed("190017")).toMatch(/non-preferred/);
    expect(malformed("1a0000ffff")).toMatch(/non-preferred/);
    expect(malformed("1b00000000ffffffff")).toMatch(/non-preferred/);
    expect(malformed("5801ff")).toMatch(/non-preferred/);
    expect(malformed("d81280")).toMatch(/non-preferred/);
  });

  it("refuses duplicate map keys, also across encodings of the same key", () => {
    expect(malformed("a201010102")).toMatch(/duplicate/);
    expect(malformed("a2616101616102")).toMatch(/duplicate/);
    // Labels past 23 and negative ones take the decoder's general path, not its one-byte-label path.
    expect(malformed("a2181801181802")).toMatch(/duplicate/);
    expect(malformed("a220012002")).toMatch(/duplicate/);
    expect(malformed("a3000101020002")).toMatch(/duplicate/);
  });

  it("refuses map keys that are not integers or text", () => {
    expect(malformed("a1410101")).toMatch(/map key/);
    expect(malformed("a18001")).toMatch(/map key/);
  });

  it("refuses trailing bytes, truncation and empty input", () => {
    expect(malformed("0101")).toMatch(/trailing/);
    expect(malformed("8301")).toMatch(/exceeds input/);
    expect(malformed("1901")).toMatch(/end of input/);
    expect(malformed("")).toMatch(/empty/);
  });

  it("refuses lengths beyond the input before allocating", () => {
    expect(malformed("5bffffffffffffffff")).toMatch(/length/);
    expect(malformed("9bffffffffffffffff")).toMatch(/length/);
    expect(malformed("7a7fffffff")).toMatch(/length/);
  });

  it("enforces size, depth and item limits", () => {
    expect(malformed("430102 03".replace(" ", ""), { maxBytes: 3 })).toMatch(/over the limit/);
    expect(malformed(`${"81".repeat(20)}00`)).toMatch(/nesting/);
    expect(decodeStrict(fromHex(`${"81".repeat(15)}00`))).toBeDefined();
    expect(malformed("8401020304", { maxItems: 3 })).toMatch(/too many/);
    expect(malformed(`${"d8ff".repeat(20)}00`)).toMatch(/nesting/);
  });

  it("reports too deep nesting with the code asked for (the trust documents' too_deep)", () => {
    let err: unknown;
    try {
      decodeStrict(fromHex(`${"81".repeat(7)}00`), { maxDepth: 6, depthCode: "too_deep" });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ProtocolError);
    expect((err as ProtocolError).code).toBe("too_deep");
    expect(decodeStrict(fromHex(`${"81".repeat(6)}00`), { maxDepth: 6, depthCode: "too_deep" })).toBeDefined();
  });

  it("refuses invalid UTF-8, floats (unless allowed), and unknown simple values", () => {
    expect(malformed("62c328")).toMatch(/UTF-8/);
    expect(malformed("f93c00")).toMatch(/floating/);
    expect(decodeStrict(fromHex("f93c00"), { allowFloats: true })).toBe(1);
    expect(decodeStrict(fromHex("fb3ff8000000000000"), { allowFloats: true })).toBe(1.5);
    expect(malformed("f0")).toMatch(/simple/);
    expect(malformed("f820")).toMatch(/simple/);
  });

  it("returns byte strings as views of the input, so signed bytes stay exact", () => {
    const input = fromHex("8143010203");
    const [bytes] = decodeStrict(input) as [Uint8Array];
    expect(bytes.buffer).toBe(input.buffer);
  });

  it("never throws anything but a typed error on random bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        try {
          decodeStrict(bytes);
        } catch (e) {
          expect(e).toBeInstanceOf(ProtocolError);
        }
      }),
      { seed: 7, numRuns: 5000 },
    );
  });

  it("prints diagnostic notation", () => {
    expect(toDiagnostic(decodeStrict(fromHex("d28340a043010203")))).toBe("18([\n  h'',\n  {},\n  h'010203'\n])");
    expect(toDiagnostic(new Map([[1, new Uint8Array([0xab])]]))).toBe("{\n  1: h'ab'\n}");
  });
});

describe("labelledMap", () => {
  it("writes one entry a label, in the table's order, values by field name, fields it does not name left out", () => {
    const map = labelledMap({ b: 2, a: 1, neg: -1 }, { a: "x", b: 7, neg: undefined, extra: true } as never);
    expect([...map.entries()]).toEqual([
      [2, 7],
      [1, "x"],
      [-1, undefined],
    ]);
  });
});
