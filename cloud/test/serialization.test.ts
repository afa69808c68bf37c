import fastJsonStringify, { type Schema } from "fast-json-stringify";
import { describe, expect, it } from "vitest";
import { sharedSerializers } from "../src/http/serialization.js";

const Shared: Schema = {
  $id: "Shared",
  type: "object",
  properties: { error: { type: "string" } },
  required: ["error"],
};

describe("shared response serializers", () => {
  it("builds one serializer per distinct schema and writes what fastify's default would", () => {
    const a = sharedSerializers({ Shared }, {});
    const b = sharedSerializers({ Shared }, {});
    // Equal schemas made apart (as a route makes its error answers per registration) share one serializer.
    const first = a({ schema: { description: "nope", $ref: "Shared#" } });
    expect(b({ schema: { description: "nope", $ref: "Shared#" } })).toBe(first);
    const body = { error: "x", secret: "not in the schema" };
    expect(first(body)).toBe(fastJsonStringify({ $ref: "Shared#" }, { schema: { Shared } })(body));
    expect(first(body)).toBe('{"error":"x"}');
    // A different schema, or other shared schemas, get their own.
    const other = a({ schema: { type: "object", properties: { n: { type: "integer" } } } });
    expect(other).not.toBe(first);
    expect(other({ n: 2, m: 3 })).toBe('{"n":2}');
    const more = sharedSerializers({ Shared, Other: { $id: "Other", type: "string" } }, {});
    expect(more({ schema: { description: "nope", $ref: "Shared#" } })).not.toBe(first);
  });

  it("serializes a shared schema itself without passing it again as an external", () => {
    const serialize = sharedSerializers({ Shared }, {})({ schema: Shared });
    expect(serialize({ error: "y", extra: 1 })).toBe('{"error":"y"}');
  });
});
