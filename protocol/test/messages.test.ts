import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  batteryStateFor,
  checkLockPassword,
  checkVendorCredentials,
  chunkMessage,
  decodeCommand,
  decodeCommandResult,
  decodeEvent,
  decodeLockKeys,
  decodeStatus,
  decodeTelemetry,
  deriveLockPassword,
  encodeCbor,
  encodeCommand,
  encodeCommandResult,
  encodeEvent,
  encodeLockKeys,
  encodeStatus,
  encodeTelemetry,
  FrameAssembler,
  type LockEvent,
  lockMqttLogin,
  ProtocolError,
  prefetchKeysUrl,
  Topics,
  useKeyUrl,
  vendorCredentialDigest,
  vendorCredentialDigestSync,
} from "../src/index.js";

const id = new Uint8Array(16).fill(1);

function invalid(fn: () => unknown, pattern: RegExp) {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ProtocolError);
    expect((e as Error).message).toMatch(pattern);
    return (e as ProtocolError).code;
  }
  throw new Error("accepted");
}

describe("events", () => {
  const event: LockEvent = { id, lock: "lock-1", seq: 7, ts: 1_800_000_000, type: "denied", key: id, code: "expired" };
  it("round-trip, with and without optional fields", () => {
    expect(decodeEvent(encodeEvent(event))).toEqual(event);
    const plain: LockEvent = { id, lock: "lock-1", seq: 0, ts: 1, type: "locked" };
    expect(decodeEvent(encodeEvent(plain))).toEqual(plain);
    const applied: LockEvent = { ...plain, type: "state_applied", v: 3, dropped: 2 };
    expect(decodeEvent(encodeEvent(applied))).toEqual(applied);
  });
  it("name the field at fault", () => {
    expect(invalid(() => decodeEvent(encodeCbor({ ...event, type: "opened" })), /"type" must be one of/)).toBe(
      "invalid_message",
    );
    invalid(() => decodeEvent(encodeCbor({ ...event, seq: -1 })), /"seq"/);
    invalid(() => decodeEvent(encodeCbor({ ...event, id: new Uint8Array(3) })), /"id" must be a 16-byte/);
    invalid(() => decodeEvent(encodeCbor({ ...event, lock: "a/b" })), /"lock"/);
    invalid(() => decodeEvent(encodeCbor({ ...event, lock: "+" })), /"lock"/);
    invalid(() => decodeEvent(encodeCbor([1])), /not a CBOR map/);
    expect(invalid(() => decodeEvent(new Uint8Array(5000)), /over/)).toBe("too_large");
  });
  it("ignore unknown fields from newer firmware", () => {
    expect(decodeEvent(encodeCbor({ ...event, extra: 1 }))).toEqual(event);
  });
});

describe("telemetry", () => {
  it("round-trips and validates ranges", () => {
    const t = { lock: "lock-1", ts: 5, level: 19, mv: 2700, state: batteryStateFor(19), v: 2, dropped: 0 };
    expect(t.state).toBe("low");
    expect(decodeTelemetry(encodeTelemetry(t))).toEqual(t);
    invalid(() => decodeTelemetry(encodeCbor({ ...t, level: 101 })), /"level"/);
    invalid(() => decodeTelemetry(encodeCbor({ ...t, state: "empty" })), /"state"/);
  });
  it("documents the thresholds", () => {
    expect([batteryStateFor(21), batteryStateFor(20), batteryStateFor(6), batteryStateFor(5)]).toEqual([
      "ok",
      "low",
      "low",
      "critical",
    ]);
  });
});

describe("lock keys", () => {
  it("round-trips and checks key lengths and the lock id", () => {
    const m = { lock: "lock-1", identity: new Uint8Array(32).fill(1), x25519: new Uint8Array(32).fill(2) };
    expect(decodeLockKeys(encodeLockKeys(m))).toEqual(m);
    invalid(() => decodeLockKeys(encodeCbor({ ...m, x25519: new Uint8Array(31) })), /"x25519"/);
    invalid(() => decodeLockKeys(encodeCbor({ ...m, lock: "a/#" })), /"lock"/);
  });
});

describe("commands", () => {
  it("round-trip every type", () => {
    const cmds = [
      { id: "c1", type: "challenge" as const },
      { id: "c2", type: "unlock" as const, token: new Uint8Array(200), proof: new Uint8Array(64), nonce: id },
      { id: "c3", type: "lock" as const },
      { id: "c4", type: "ping" as const },
      { id: "c5", type: "state" as const, doc: new Uint8Array(10) },
      { id: "c6", type: "reports" as const, after: 9 },
      { id: "c7", type: "time_request" as const },
      { id: "c8", type: "time_answer" as const, answer: new Uint8Array(100) },
      { id: "c9", type: "command_nonce" as const },
      { id: "c10", type: "remote" as const, command: new Uint8Array(120) },
    ];
    for (const c of cmds) expect(decodeCommand(encodeCommand(c))).toEqual(c);
    invalid(
      () =>
        decodeCommand(
          encodeCbor({ id: "c", type: "unlock", token: new Uint8Array(1), proof: new Uint8Array(1), nonce: id }),
        ),
      /"proof"/,
    );
    invalid(() => decodeCommand(encodeCbor({ id: "c", type: "open" })), /"type"/);
    // The unsigned sync and the gateway's event pull are gone (docs/design.md section 7, "Removed").
    invalid(() => decodeCommand(encodeCbor({ id: "c", type: "sync", sync: new Uint8Array(4) })), /"type"/);
    invalid(() => decodeCommand(encodeCbor({ id: "c", type: "events", after: 1 })), /"type"/);
    invalid(() => decodeCommand(encodeCbor({ id: "c", type: "state", doc: new Uint8Array(3585) })), /"doc"/);
    invalid(() => decodeCommand(encodeCbor({ id: "a/#", type: "ping" })), /"id"/);
  });
  it("round-trip results", () => {
    const r = {
      id: "c1",
      ok: false,
      code: "expired" as const,
      message: "the key has expired",
      state: "locked" as const,
    };
    expect(decodeCommandResult(encodeCommandResult(r))).toEqual(r);
    const withReports = { id: "c2", ok: true, reports: [new Uint8Array(5)], v: 3, nonce: id };
    expect(decodeCommandResult(encodeCommandResult(withReports))).toEqual(withReports);
    const keys = { identity: new Uint8Array(32).fill(3), x25519: new Uint8Array(32).fill(4) };
    const ping = { id: "c3", ok: true, state: "locked" as const, v: 0, keys, request: new Uint8Array(30) };
    expect(decodeCommandResult(encodeCommandResult(ping))).toEqual(ping);
  });
});

describe("status", () => {
  it("is plain text online/offline", () => {
    expect(Buffer.from(encodeStatus("offline")).toString()).toBe("offline");
    expect(decodeStatus(encodeStatus("online"))).toBe("online");
    invalid(() => decodeStatus(Buffer.from("maybe")), /online/);
  });
});

describe("topics", () => {
  const topics = new Topics();
  it("build and parse the contract's topics", () => {
    expect(topics.lock("lock-1", "events")).toBe("latchkey/locks/lock-1/events");
    expect(topics.lock("lock-1", "cmd/result")).toBe("latchkey/locks/lock-1/cmd/result");
    expect(topics.bridgeStatus("br_1")).toBe("latchkey/bridges/br_1/status");
    expect(topics.lock("lock-1", "state")).toBe("latchkey/locks/lock-1/state");
    expect(topics.parse("latchkey/locks/lock-1/time/request")).toEqual({
      scope: "lock",
      lockId: "lock-1",
      kind: "time/request",
    });
    expect(topics.parse("latchkey/locks/lock-1/time/answer")?.kind).toBe("time/answer");
    expect(topics.parse("latchkey/locks/lock-1/time")).toBeNull();
    expect(topics.allLocks("telemetry")).toBe("latchkey/locks/+/telemetry");
    expect(topics.parse("latchkey/locks/lock-1/cmd/result")).toEqual({
      scope: "lock",
      lockId: "lock-1",
      kind: "cmd/result",
    });
    expect(topics.parse("latchkey/bridges/b/status")).toEqual({ scope: "bridge", bridgeId: "b", kind: "status" });
  });
  it("refuse wildcards and foreign topics", () => {
    expect(() => topics.lock("+", "events")).toThrow();
    expect(() => topics.lock("a/b", "events")).toThrow();
    expect(() => new Topics("site/#")).toThrow();
    expect(topics.parse("latchkey/locks/lock-1/other")).toBeNull();
    expect(topics.parse("other/locks/lock-1/events")).toBeNull();
    expect(topics.parse("latchkey/locks/lock-1/events/x")).toBeNull();
  });
  it("honour a custom prefix", () => {
    const t = new Topics("site-a/latchkey");
    expect(t.lock("l1", "keys")).toBe("site-a/latchkey/locks/l1/keys");
    expect(t.parse("site-a/latchkey/locks/l1/keys")).toMatchObject({ lockId: "l1", kind: "keys" });
    expect(t.parse("site-a/latchkey/locks/l1/sync")).toBeNull();
  });
});

describe("BLE framing", () => {
  it("reassembles what it chunks, for any size and MTU", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 4096 }),
        fc.integer({ min: 23, max: 517 }),
        (message, mtu) => {
          const frames = chunkMessage(message, mtu);
          for (const f of frames) expect(f.length).toBeLessThanOrEqual(mtu - 3);
          const assembler = new FrameAssembler();
          let out: Uint8Array | null = null;
          frames.forEach((f, i) => {
            out = assembler.push(f);
            if (i < frames.length - 1) expect(out).toBeNull();
          });
          expect(out).toEqual(message);
        },
      ),
      { seed: 3, numRuns: 200 },
    );
  });

  it("detects lost, reordered and oversized frames, then recovers", () => {
    const frames = chunkMessage(new Uint8Array(100).fill(7));
    const a = new FrameAssembler();
    a.push(frames[0]!);
    expect(() => a.push(frames[2]!)).toThrow(/out of sequence/);
    expect(() => a.push(frames[1]!)).toThrow(/without a first frame/);
    expect(() => new FrameAssembler(50).push(frames[0]!)).toThrow(/over 50/);
    let result: Uint8Array | null = null;
    for (const f of frames) result = a.push(f);
    expect(result).toEqual(new Uint8Array(100).fill(7));
    const lying = new Uint8Array(frames[0]!);
    lying[0]! |= 0x40; // LAST on a first frame of a longer message
    expect(() => new FrameAssembler().push(lying)).toThrow(/LAST/);
  });
});

describe("app links and credentials", () => {
  it("build use-key and prefetchkeys URLs", () => {
    expect(useKeyUrl({ keyId: "key_1", userId: "+4790000000", redirect: "https://x.test/ok" })).toBe(
      "https://app.latchkey.dev/use-key?id=key_1&userid=%2B4790000000&redirect=https%3A%2F%2Fx.test%2Fok",
    );
    expect(prefetchKeysUrl({ returnUrl: "myapp://back" }, "https://links.example.com/app")).toBe(
      "https://links.example.com/app/prefetchkeys?returnUrl=myapp%3A%2F%2Fback",
    );
  });
  it("derive per-lock passwords that check only for that lock", () => {
    const secret = "a site secret of enough length";
    const p = deriveLockPassword(secret, "lock-1");
    expect(checkLockPassword(secret, "lock-1", p)).toBe(true);
    expect(checkLockPassword(secret, "lock-2", p)).toBe(false);
    expect(checkLockPassword("another site secret value", "lock-1", p)).toBe(false);
    expect(() => deriveLockPassword("short", "lock-1")).toThrow(/16 bytes/);
  });
  it("give a lock's whole MQTT login: its id as client id and username, its derived password, MQTT 3.1.1", () => {
    const secret = "a site secret of enough length";
    expect(lockMqttLogin(secret, "lock-1")).toEqual({
      clientId: "lock-1",
      username: "lock-1",
      password: deriveLockPassword(secret, "lock-1"),
      protocolVersion: 4,
    });
    expect(() => lockMqttLogin(secret, "lock/+")).toThrow(/not valid/);
  });
  it("check vendor credentials against a salted digest", async () => {
    const salt = Buffer.alloc(16, 3).toString("base64url");
    const check = { salt, digest: await vendorCredentialDigest("sim", "site-a", "pw", salt) };
    expect(vendorCredentialDigestSync("sim", "site-a", "pw", salt)).toBe(check.digest);
    expect(await checkVendorCredentials(check, { vendor: "sim", username: "site-a", password: "pw" })).toBe(true);
    expect(await checkVendorCredentials(check, { vendor: "sim", username: "site-a", password: "pw2" })).toBe(false);
    expect(await checkVendorCredentials(check, { vendor: "ble", username: "site-a", password: "pw" })).toBe(false);
  });
  // review 12.11: scryptSync held the event loop for the whole check. An immediate queued before the check runs on
  // the loop's next turn; it can only run before the check resolves if the check left the loop free meanwhile.
  it.each(["digest", "check"] as const)("leaves the event loop free during a credential %s", async (which) => {
    const salt = Buffer.alloc(16, 4).toString("base64url");
    const order: string[] = [];
    setImmediate(() => order.push("immediate"));
    const account = { vendor: "sim", username: "site-a", password: "pw" };
    await (which === "digest"
      ? vendorCredentialDigest("sim", "site-a", "pw", salt)
      : checkVendorCredentials({ salt, digest: "AAAA" }, account));
    order.push(which);
    expect(order).toEqual(["immediate", which]);
  });
});

describe("every decoder survives random input", () => {
  const decoders = [decodeEvent, decodeTelemetry, decodeLockKeys, decodeCommand, decodeCommandResult, decodeStatus];
  it("throws only ProtocolError", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(decoders.length - 1), (bytes, i) => {
        try {
          decoders[i]!(bytes);
        } catch (e) {
          expect(e).toBeInstanceOf(ProtocolError);
        }
      }),
      { seed: 4, numRuns: 3000 },
    );
  });
});
