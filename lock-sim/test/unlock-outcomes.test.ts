import { CLOCK_UNSET, type CommandResult, ManualClock, toHex } from "@latchkey/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectToLock, type Noble, type SimLock, seededRandom, startLock, VirtualRadio } from "../src/index.js";
import { startTestBroker, type TestBroker } from "./helpers/broker.js";
import { claimsFor, craft, cti, makeDevice, makeIssuer, mint, proofFor, T0 } from "./helpers/keys.js";
import { Observer } from "./helpers/observer.js";
import { TempDirs } from "./helpers/tmp.js";

/**
 * Every verification outcome of docs/design.md section 2 (plus the lock's own: clock unset, jammed), through both ways a
 * request reaches a lock: a BLE central written against noble's public API on the virtual radio, and the bridge's
 * MQTT `cmd` path. Each attempt must also become exactly one event carrying the code and, when decodable, the key id.
 */
const SITE_SECRET = "site-secret-for-tests-0123456789";
const LOCK = "door-1";
const issuer = makeIssuer("outcomes");
const stranger = makeIssuer("stranger");
const device = makeDevice("outcomes");
const otherDevice = makeDevice("someone-else");

interface Attempt {
  token: Uint8Array;
  /** Sign the proof with this device key (default: the token's holder). */
  signer?: Uint8Array;
  /** Mangle the token after signing. */
  mangle?: (t: Uint8Array) => Uint8Array;
}

type Transport = (attempt: Attempt) => Promise<CommandResult>;

describe.each(["ble", "mqtt"] as const)("unlock outcomes over %s", (via) => {
  const tmp = new TempDirs();
  const clock = new ManualClock(T0 * 1000);
  let broker: TestBroker;
  let observer: Observer;
  let radio: VirtualRadio;
  let noble: Noble;
  let lock: SimLock;
  let counter = 0;
  let send: Transport;

  beforeAll(async () => {
    broker = await startTestBroker({ siteSecret: SITE_SECRET });
    observer = await Observer.connect(broker.url);
    radio = new VirtualRadio();
    noble = await radio.noble();
    lock = await startLock({
      lockId: LOCK,
      dataDir: tmp.make(),
      mqttUrl: broker.url,
      siteSecret: SITE_SECRET,
      clock,
      random: seededRandom(`outcomes-${via}`),
      trust: [issuer.trusted],
      radio,
      tickIntervalMs: 0,
      relockSeconds: 0,
    });
    const mqtt: Transport = async ({ token, signer, mangle }) => {
      const challenge = await observer.command(LOCK, { id: `c${++counter}`, type: "challenge" });
      const nonce = challenge.nonce!;
      const proof = proofFor(LOCK, nonce, token, signer ?? device.secretKey);
      const sent = mangle ? mangle(token) : token;
      return observer.command(LOCK, { id: `u${++counter}`, type: "unlock", token: sent, nonce, proof });
    };
    const ble: Transport = async ({ token, signer, mangle }) => {
      const session = await connectToLock(noble, LOCK);
      try {
        const challenge = await session.request({ id: `c${++counter}`, type: "challenge" });
        const nonce = challenge.nonce!;
        const proof = proofFor(LOCK, nonce, token, signer ?? device.secretKey);
        const sent = mangle ? mangle(token) : token;
        return await session.request({ id: `u${++counter}`, type: "unlock", token: sent, nonce, proof });
      } finally {
        await session.close();
      }
    };
    send = via === "ble" ? ble : mqtt;
  });

  afterAll(async () => {
    await lock?.stop();
    noble?.removeAllListeners();
    await observer?.close();
    await broker?.close();
    tmp.cleanup();
  });

  /** Sends an attempt, and checks the answer and the one event it produced. */
  async function expectOutcome(attempt: Attempt, code: string | null, key?: Uint8Array) {
    const before = lock.events.length;
    const result = await send(attempt);
    if (code === null) {
      expect(result).toMatchObject({ ok: true, state: "unlocked" });
      lock.tick(); // relockSeconds 0: back to locked, with its own event
    } else {
      expect(result).toMatchObject({ ok: false, code });
    }
    const event = lock.events[before]!;
    expect(event.type).toBe(code === null ? "unlocked" : code === "jammed" ? "jammed" : "denied");
    if (code !== null && code !== "jammed") expect(event.code).toBe(code);
    if (key === undefined) expect(event.key).toBeUndefined();
    else expect(toHex(event.key!)).toBe(toHex(key));
    // and the bridge gets the same event
    await observer.waitForEvent(LOCK, (e) => e.seq === event.seq, `event ${event.seq}`);
  }

  it("accepts a valid key", async () => {
    const claims = claimsFor(LOCK, device.publicKey);
    await expectOutcome({ token: mint(issuer, claims) }, null, claims.cti);
    expect(lock.events.at(-1)?.type).toBe("locked");
  });

  it("malformed: not CBOR, truncated, trailing bytes", async () => {
    const good = mint(issuer, claimsFor(LOCK, device.publicKey));
    await expectOutcome({ token: good, mangle: () => new Uint8Array([0xff, 0x00, 0x13]) }, "malformed");
    await expectOutcome({ token: good, mangle: (t) => t.subarray(0, t.length - 5) }, "malformed");
    await expectOutcome({ token: good, mangle: (t) => Uint8Array.of(...t, 0) }, "malformed");
  });

  it("unsupported_alg: ES256 in the header", async () => {
    const claims = claimsFor(LOCK, device.publicKey);
    await expectOutcome({ token: craft(issuer, claims, { alg: -7 }) }, "unsupported_alg", claims.cti);
  });

  it("unknown_issuer: signed by a key the lock does not trust", async () => {
    const claims = claimsFor(LOCK, device.publicKey);
    await expectOutcome({ token: mint(stranger, claims) }, "unknown_issuer", claims.cti);
  });

  it("bad_signature: one bit of the signature flipped", async () => {
    const claims = claimsFor(LOCK, device.publicKey);
    const token = mint(issuer, claims);
    const mangle = (t: Uint8Array) => {
      const copy = new Uint8Array(t);
      copy[copy.length - 1]! ^= 1;
      return copy;
    };
    await expectOutcome({ token, mangle }, "bad_signature", claims.cti);
  });

  it("missing_claim: no sub", async () => {
    const claims = claimsFor(LOCK, device.publicKey);
    await expectOutcome({ token: craft(issuer, claims, { dropClaim: "sub" }) }, "missing_claim", claims.cti);
  });

  it("wrong_lock: a key for another door", async () => {
    const claims = claimsFor("door-2", device.publicKey);
    await expectOutcome({ token: mint(issuer, claims) }, "wrong_lock", claims.cti);
  });

  it("not_yet_valid and expired, at the edges of the 60 s leeway", async () => {
    const early = claimsFor(LOCK, device.publicKey, { nbf: T0 + 61, exp: T0 + 7200 });
    await expectOutcome({ token: mint(issuer, early) }, "not_yet_valid", early.cti);
    const justInside = claimsFor(LOCK, device.publicKey, { nbf: T0 + 60, exp: T0 + 7200 });
    await expectOutcome({ token: mint(issuer, justInside) }, null, justInside.cti);
    const late = claimsFor(LOCK, device.publicKey, { nbf: T0 - 7200, exp: T0 - 60 });
    await expectOutcome({ token: mint(issuer, late) }, "expired", late.cti);
    const stillInside = claimsFor(LOCK, device.publicKey, { nbf: T0 - 7200, exp: T0 - 59 });
    await expectOutcome({ token: mint(issuer, stillInside) }, null, stillInside.cti);
  });

  it("bad_proof: proof signed by a device that is not the key's holder", async () => {
    const claims = claimsFor(LOCK, device.publicKey);
    await expectOutcome({ token: mint(issuer, claims), signer: otherDevice.secretKey }, "bad_proof", claims.cti);
  });

  it("revoked: a revocation from sync stops the key at once", async () => {
    const claims = claimsFor(LOCK, device.publicKey, { cti: cti() });
    const token = mint(issuer, claims);
    await expectOutcome({ token }, null, claims.cti);
    const v = lock.syncVersion + 1;
    await observer.sync(LOCK, { v, issuers: [], revoked: [claims.cti], time: T0 });
    await lock.waitForSyncVersion(v);
    expect(lock.revoked).toEqual([toHex(claims.cti)]);
    // factory trust survives a sync that lists no issuers
    await expectOutcome({ token }, "revoked", claims.cti);
  });

  it("clock_unset: after a clock reset every key is refused until a sync brings time", async () => {
    const claims = claimsFor(LOCK, device.publicKey);
    const token = mint(issuer, claims);
    lock.resetClock();
    await expectOutcome({ token }, CLOCK_UNSET, claims.cti);
    // other failures are still reported precisely while the clock is unset
    const foreign = claimsFor(LOCK, device.publicKey);
    await expectOutcome({ token: mint(stranger, foreign) }, "unknown_issuer", foreign.cti);
    await observer.sync(LOCK, { v: lock.syncVersion, issuers: [], revoked: [], time: T0 });
    await lock.waitForEvent((e) => e.type === "clock_set", { from: lock.events.length - 1 });
    await expectOutcome({ token }, null, claims.cti);
  });

  it("jammed: the key is good but the bolt does not move", async () => {
    const claims = claimsFor(LOCK, device.publicKey);
    lock.jam();
    await expectOutcome({ token: mint(issuer, claims) }, "jammed", claims.cti);
    expect(lock.state).toBe("jammed");
    lock.jam(false);
    const again = claimsFor(LOCK, device.publicKey);
    await expectOutcome({ token: mint(issuer, again) }, null, again.cti);
  });

  it("never stepped outside its MQTT ACL", () => {
    expect(broker.violations).toEqual([]);
  });
});
