import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { base64UrlBytes, fromBase64Url, fromBase64UrlInto, toBase64Url } from "../src/index.js";

describe("fromBase64UrlInto", () => {
  it("property: decodes what fromBase64Url decodes, side by side in one buffer", () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 8 }), (parts) => {
        const texts = parts.map(toBase64Url);
        const into = Buffer.alloc(texts.reduce((n, t) => n + base64UrlBytes(t.length), 0));
        let at = 0;
        const views = texts.map((t) => {
          const view = fromBase64UrlInto(t, into, at);
          at += view.length;
          return view;
        });
        expect(at).toBe(into.length);
        for (const [i, view] of views.entries()) expect(view).toEqual(fromBase64Url(texts[i]!));
      }),
    );
  });

  it("refuses what fromBase64Url refuses, and text that does not fit, writing nothing past its room", () => {
    const into = Buffer.alloc(8);
    for (const bad of ["a", "abcde", "ab+c", "ab/c", "ab=c", "ab c", "é"]) {
      expect(() => fromBase64Url(bad)).toThrow(TypeError);
      expect(() => fromBase64UrlInto(bad, into, 0)).toThrow(TypeError);
    }
    expect(() => fromBase64UrlInto(toBase64Url(new Uint8Array(9)), into, 0)).toThrow(TypeError);
    expect(() => fromBase64UrlInto(toBase64Url(Uint8Array.of(1, 2, 3)), into, 6)).toThrow(TypeError);
    expect(() => fromBase64UrlInto(toBase64Url(Uint8Array.of(1)), into, -1)).toThrow(TypeError);
    expect(into.every((b) => b === 0)).toBe(true);
    expect(fromBase64UrlInto(toBase64Url(Uint8Array.of(1, 2, 3)), into, 5)).toEqual(Uint8Array.of(1, 2, 3));
  });
});

describe("toBase64Url", () => {
  it("property: a view into a larger buffer encodes its own bytes only, as Buffer's base64url of a copy", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.nat(64), fc.nat(64), (all, a, b) => {
        const start = Math.min(a, all.length);
        const view = all.subarray(start, Math.max(start, Math.min(b, all.length)));
        const text = toBase64Url(view);
        expect(text).toBe(Buffer.from(Uint8Array.from(view)).toString("base64url"));
        expect(fromBase64Url(text)).toEqual(Uint8Array.from(view));
      }),
    );
  });
});
