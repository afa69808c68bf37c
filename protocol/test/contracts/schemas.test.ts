import type { TSchema } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import { describe, expect, it } from "vitest";
import * as actions from "../../src/contracts/actions.js";
import * as activity from "../../src/contracts/activity.js";
import * as app from "../../src/contracts/app-api.js";
import * as bridge from "../../src/contracts/bridge-api.js";
import * as connections from "../../src/contracts/connections.js";
import { registerFormats } from "../../src/contracts/formats.js";
import * as integrator from "../../src/contracts/integrator.js";
import * as keys from "../../src/contracts/keys.js";

registerFormats();

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
