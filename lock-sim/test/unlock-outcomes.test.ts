import { CLOCK_UNSET, type CommandResult, ManualClock, toHex } from "@latchkey/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectToLock, type Noble, type SimLock, seededRandom, startLock, VirtualRadio } from "../src/index.js";
import { startTestBroker, type TestBroker } from "./helpers/broker.js";
import { TestCloud } from "./helpers/cloud.js";
import { claimsFor, craft, cti, makeDevice, makeIssuer, mint, proofFor, T0 } from "./helpers/keys.js";
import { Observer } from "./helpers/observer.js";
import { TempDirs } from "./helpers/tmp.js";

/**
 * Every verification outcome of docs/design.md section 2 (plus the lock's own: no state, clock unset, state stale,
 * jammed), through both ways a request reaches a lock: a BLE central written against noble's public API on the virtual
 * radio, and the bridge's MQTT `cmd` path. Each attempt must also become exactly one event carrying the code and, when
 * decodable, the key id. The issuer key, the revocations and the time come only from the cloud's signed documents.
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
  const cloud = new TestCloud(clock, issuer);
  let broker: TestBroker;
  let observer: Observer;
  let radio: VirtualRadio;
  let noble: Noble;
  let lock: SimLock;
  let counter = 0;
  let send: Transport;

  beforeAll(async () => {
    broker = await startTestBroker({ siteSecret: SITE_SECRET });
    observer = (await Observer.connect(broker.url)).relay(cloud);
    radio = new VirtualRadio();
    noble = await radio.noble();
    lock = await startLock({
      lockId: LOCK,
      dataDir: tmp.make(),
      mqttUrl: broker.url,
      siteSecret: SITE_SECRET,
      clock,
      random: seededRandom(`outcomes-${via}`),
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

  /** Sends an attempt, and checks the answer and the one event it produced (at the cloud too, when it can seal). */
  async function expectOutcome(attempt: Attempt, code: string | null, key?: Uint8Array, reported = true) {
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
    // and the cloud gets the same event, sealed by the lock
    if (!reported) return;
    await observer.waitFor(() => cloud.events(LOCK).find((e) => e.seq === event.seq), `event ${event.seq}`);
  }

  it("no_state: before the lock holder's first signed state no key opens", async () => {
    const claims = claimsFor(LOCK, device.publicKey);
    await expectOutcome({ token: mint(issuer, claims) }, "no_state", claims.cti, false);
    cloud.provision(lock);
  });

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

  it("not_yet_valid and expired, at the edges of the 60 s leeway less the clock's uncertainty (2 s after a time answer)", async () => {
    expect(lock.trust.keyCheckOptions()).toMatchObject({ ok: true, now: T0, uncertainty: 2 });
    const early = claimsFor(LOCK, device.publicKey, { nbf: T0 + 59, exp: T0 + 7200 });
    await expectOutcome({ token: mint(issuer, early) }, "not_yet_valid", early.cti);
    const justInside = claimsFor(LOCK, device.publicKey, { nbf: T0 + 58, exp: T0 + 7200 });
    await expectOutcome({ token: mint(issuer, justInside) }, null, justInside.cti);
    const late = claimsFor(LOCK, device.publicKey, { nbf: T0 - 7200, exp: T0 - 58 });
    await expectOutcome({ token: mint(issuer, late) }, "expired", late.cti);
    const stillInside = claimsFor(LOCK, device.publicKey, { nbf: T0 - 7200, exp: T0 - 57 });
    await expectOutcome({ token: mint(issuer, stillInside) }, null, stillInside.cti);
  });

  it("bad_proof: proof signed by a device that is not the key's holder", async () => {
    const claims = claimsFor(LOCK, device.publicKey);
    await expectOutcome({ token: mint(issuer, claims), signer: otherDevice.secretKey }, "bad_proof", claims.cti);
  });

  it("revoked: a revocation in the next signed state stops the key at once", async () => {
    const claims = claimsFor(LOCK, device.publicKey, { cti: cti() });
    const token = mint(issuer, claims);
    await expectOutcome({ token }, null, claims.cti);
    cloud.revoke(LOCK, claims.cti);
    const v = lock.stateV;
    await observer.publishState(LOCK, cloud.state(LOCK));
    await lock.waitForState(v + 1);
    expect(lock.revoked).toEqual([toHex(claims.cti)]);
    await expectOutcome({ token }, "revoked", claims.cti);
  });

  it("clock_unset: after a clock reset every key is refused until a signed time answer", async () => {
    const claims = claimsFor(LOCK, device.publicKey);
    const token = mint(issuer, claims);
    lock.resetClock();
    await expectOutcome({ token }, CLOCK_UNSET, claims.cti);
    const foreign = claimsFor(LOCK, device.publicKey);
    await expectOutcome({ token: mint(stranger, foreign) }, CLOCK_UNSET, foreign.cti);
    cloud.giveTime(lock);
    expect(lock.events.at(-1)).toMatchObject({ type: "clock_set", code: "unset" });
    await expectOutcome({ token }, null, claims.cti);
  });

  it("state_stale: with maxStale, a state older than it opens nothing until a newer one", async () => {
    cloud.setMaxStale(LOCK, 3600);
    await observer.publishState(LOCK, cloud.state(LOCK));
    await lock.waitFor((l) => l.signedState?.maxStale === 3600, "the state with maxStale");
    clock.advance(3_600_000);
    const claims = claimsFor(LOCK, device.publicKey, { exp: T0 + 86_400 });
    const token = mint(issuer, claims);
    await expectOutcome({ token }, "state_stale", claims.cti);
    cloud.setMaxStale(LOCK, undefined);
    const v = lock.stateV;
    await observer.publishState(LOCK, cloud.state(LOCK));
    await lock.waitForState(v + 1);
    await expectOutcome({ token }, null, claims.cti);
    clock.set(T0 * 1000);
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
