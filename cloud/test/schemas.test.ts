import type { TSchema } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import { describe, expect, it } from "vitest";
import "../src/http/validation.js"; // registers the formats
import * as actions from "../src/schemas/actions.js";
import * as activity from "../src/schemas/activity.js";
import * as app from "../src/schemas/app-api.js";
import * as bridge from "../src/schemas/bridge-api.js";
import * as connections from "../src/schemas/connections.js";
import * as integrator from "../src/schemas/integrator.js";
import * as keys from "../src/schemas/keys.js";

describe("request examples in the OpenAPI document", () => {
  it("every example prefills a body its own schema accepts", () => {
    let checked = 0;
    for (const module of [actions, activity, app, bridge, connections, integrator, keys]) {
      for (const [name, schema] of Object.entries(module as Record<string, unknown>)) {
        if (typeof schema !== "object" || schema === null) continue;
        const s = schema as TSchema & { examples?: unknown[]; "x-examples"?: Record<string, { value: unknown }> };
        const examples = [...(s.examples ?? []), ...Object.values(s["x-examples"] ?? {}).map((e) => e.value)];
        for (const example of examples) {
          expect(Value.Check(s, example), `${name}: ${JSON.stringify(example)}`).toBe(true);
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThan(20);
  });
});
