import fc from "fast-check";

/** How big generated CBOR may grow, and what a test adds to the shared leaves and containers. */
export interface CborValueShape {
  stringMax: number;
  bytesMax: number;
  arrayMax: number;
  /** More leaves, tried right after integers. */
  leaves?: fc.Arbitrary<unknown>[];
  /** More containers over `v` (maps, tags), tried after arrays. */
  nodes?: (v: fc.Arbitrary<unknown>) => fc.Arbitrary<unknown>[];
}

/**
 * Arbitrary CBOR values (integers, text, bytes, booleans, null, arrays and what `shape` adds), small in depth: one
 * generator for the codec's round trip and the verifiers' fuzzing. The order of the choices is part of what a seed
 * reproduces, so additions go at the ends named above.
 */
export function cborValues(shape: CborValueShape): fc.Arbitrary<unknown> {
  return fc.letrec<{ v: unknown }>((tie) => ({
    v: fc.oneof(
      { depthSize: "small" },
      fc.integer(),
      ...(shape.leaves ?? []),
      fc.string({ maxLength: shape.stringMax }),
      fc.uint8Array({ maxLength: shape.bytesMax }),
      fc.boolean(),
      fc.constant(null),
      fc.array(tie("v"), { maxLength: shape.arrayMax }),
      ...(shape.nodes?.(tie("v")) ?? []),
    ),
  })).v;
}
