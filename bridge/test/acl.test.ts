import { Topics } from "@latchkey/protocol";
import { describe, expect, it } from "vitest";
import {
  homeAssistantMayPublish,
  homeAssistantMaySubscribe,
  lockMayPublish,
  lockMaySubscribe,
} from "../src/broker/acl.js";

const t = new Topics("latchkey");

describe("broker ACL", () => {
  it("lets a lock publish only its own status, keys, events, telemetry, command results and time requests", () => {
    for (const kind of ["status", "keys", "events", "telemetry", "cmd/result", "time/request"] as const)
      expect(lockMayPublish(t, "lock-a", `latchkey/locks/lock-a/${kind}`, false)).toEqual({ ok: true, kind });
    // Retained: its presence and its public keys (published at every connect), nothing else.
    expect(lockMayPublish(t, "lock-a", "latchkey/locks/lock-a/status", true)).toEqual({ ok: true, kind: "status" });
    expect(lockMayPublish(t, "lock-a", "latchkey/locks/lock-a/keys", true)).toEqual({ ok: true, kind: "keys" });
  });

  it("refuses another lock's topics, bridge-only topics, retained events and foreign topics", () => {
    expect(lockMayPublish(t, "lock-a", "latchkey/locks/lock-b/events", false)).toMatchObject({ ok: false });
    // There is no `sync` topic any more (docs/design.md section 7 "Removed"): not a lock topic at all.
    expect(lockMayPublish(t, "lock-a", "latchkey/locks/lock-a/sync", false)).toMatchObject({ ok: false });
    expect(lockMayPublish(t, "lock-a", "latchkey/locks/lock-a/cmd", false)).toMatchObject({ ok: false });
    // Another lock's keys (a lock may not speak for another), retained or not; retained reports.
    expect(lockMayPublish(t, "lock-a", "latchkey/locks/lock-b/keys", true)).toMatchObject({ ok: false });
    expect(lockMayPublish(t, "lock-a", "latchkey/locks/lock-b/keys", false)).toMatchObject({ ok: false });
    for (const kind of ["events", "telemetry", "cmd/result"])
      expect(lockMayPublish(t, "lock-a", `latchkey/locks/lock-a/${kind}`, true)).toMatchObject({ ok: false });
    // The authority's documents come only from the bridge (docs/mqtt.md, "Signed state and time").
    for (const kind of ["state", "time/answer"])
      for (const lock of ["lock-a", "lock-b"])
        expect(lockMayPublish(t, "lock-a", `latchkey/locks/${lock}/${kind}`, false)).toMatchObject({ ok: false });
    expect(lockMayPublish(t, "lock-b", "latchkey/locks/lock-a/time/request", false)).toMatchObject({ ok: false });
    expect(lockMayPublish(t, "lock-a", "latchkey/locks/lock-a/time/request", true)).toMatchObject({ ok: false });
    expect(lockMayPublish(t, "lock-a", "latchkey/bridges/lock-a/status", false)).toMatchObject({ ok: false });
    expect(lockMayPublish(t, "lock-a", "homeassistant/status", false)).toMatchObject({ ok: false });
    expect(lockMayPublish(t, "lock-a", "latchkey/locks/lock-a/events/extra", false)).toMatchObject({ ok: false });
    expect(lockMayPublish(t, "lock-a", "other/locks/lock-a/events", false)).toMatchObject({ ok: false });
  });

  it("lets a lock subscribe only to its own cmd, state and time answers, without wildcards", () => {
    for (const kind of ["cmd", "state", "time/answer"])
      expect(lockMaySubscribe(t, "lock-a", `latchkey/locks/lock-a/${kind}`)).toBe(true);
    for (const filter of [
      "latchkey/locks/lock-a/sync",
      "latchkey/locks/lock-a/keys",
      "latchkey/locks/lock-b/keys",
      "latchkey/locks/lock-b/state",
      "latchkey/locks/lock-b/time/answer",
      "latchkey/locks/+/state",
      "latchkey/locks/lock-a/time/#",
      "latchkey/locks/lock-a/time/+",
      "latchkey/locks/lock-a/time/request",
      "latchkey/locks/lock-b/sync",
      "latchkey/locks/+/sync",
      "latchkey/locks/lock-a/#",
      "latchkey/#",
      "#",
      "latchkey/locks/lock-a/events",
    ])
      expect(lockMaySubscribe(t, "lock-a", filter)).toBe(false);
  });

  it("keeps Home Assistant to discovery, its state topics and presence", () => {
    for (const ok of [
      "homeassistant/#",
      "homeassistant/lock/+/+/config",
      "latchkey/ha/#",
      "latchkey/locks/+/status",
      "latchkey/locks/lock-a/status",
      "latchkey/bridges/+/status",
    ])
      expect(homeAssistantMaySubscribe(t, "homeassistant", ok)).toBe(true);
    for (const no of [
      "#",
      "latchkey/#",
      "latchkey/locks/+/events",
      "latchkey/locks/#",
      "latchkey/+/+/status",
      "latchkey/locks/+/+",
    ])
      expect(homeAssistantMaySubscribe(t, "homeassistant", no)).toBe(false);
    expect(homeAssistantMayPublish(t, "homeassistant", "homeassistant/status")).toEqual({ ok: true, what: "status" });
    expect(homeAssistantMayPublish(t, "homeassistant", "latchkey/ha/lock-a/set")).toEqual({
      ok: true,
      what: "command",
    });
    expect(homeAssistantMayPublish(t, "homeassistant", "latchkey/locks/lock-a/cmd")).toMatchObject({ ok: false });
    expect(homeAssistantMayPublish(t, "homeassistant", "latchkey/ha/a/b/set")).toMatchObject({ ok: false });
  });
});
