import { ManualClock, NONCE_TTL_MS } from "@latchkey/protocol";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type SimLock, seededRandom, startLock } from "../src/index.js";
import { TestCloud } from "./helpers/cloud.js";
import { claimsFor, makeDevice, makeIssuer, mint, proofFor, T0 } from "./helpers/keys.js";
import { TempDirs } from "./helpers/tmp.js";

/** Attacks on the challenge: replaying a captured exchange, answering late, borrowing another lock's nonce. */
const issuer = makeIssuer("nonce");
const device = makeDevice("nonce");

describe("challenge nonces", () => {
  const tmp = new TempDirs();
  const clock = new ManualClock(T0 * 1000);
  const cloud = new TestCloud(clock, issuer);
  let lock: SimLock;
  let other: SimLock;

  beforeEach(async () => {
    const opts = { clock, tickIntervalMs: 0, relockSeconds: 0 };
    lock = await startLock({ lockId: "n-1", dataDir: tmp.make(), random: seededRandom("n1"), ...opts });
    other = await startLock({ lockId: "n-2", dataDir: tmp.make(), random: seededRandom("n2"), ...opts });
    cloud.provision(lock);
    cloud.provision(other);
  });

  afterEach(async () => {
    await lock.stop();
    await other.stop();
    tmp.cleanup();
  });

  const token = () => mint(issuer, claimsFor("n-1", device.publicKey));

  it("a captured challenge-response replayed verbatim is refused (bad_proof), and logged", () => {
    const t = token();
    const nonce = lock.command({ id: "c1", type: "challenge" }).nonce!;
    const proof = proofFor("n-1", nonce, t, device.secretKey);
    const request = { id: "u1", type: "unlock" as const, token: t, nonce, proof };
    expect(lock.command(request)).toMatchObject({ ok: true });
    expect(lock.command({ ...request, id: "u2" })).toMatchObject({ ok: false, code: "bad_proof" });
    expect(lock.events.slice(-2).map((e) => [e.type, e.code])).toEqual([
      ["unlocked", undefined],
      ["denied", "bad_proof"],
    ]);
  });

  it("a failed attempt burns the nonce too: no second try with the same challenge", () => {
    const t = token();
    const nonce = lock.command({ id: "c1", type: "challenge" }).nonce!;
    const wrong = proofFor("n-1", nonce, t, makeDevice("thief").secretKey);
    expect(lock.command({ id: "u1", type: "unlock", token: t, nonce, proof: wrong }).code).toBe("bad_proof");
    const right = proofFor("n-1", nonce, t, device.secretKey);
    expect(lock.command({ id: "u2", type: "unlock", token: t, nonce, proof: right }).code).toBe("bad_proof");
  });

  it("a stale nonce (answered after 30 s) is refused; one answered just in time is accepted", () => {
    const t1 = token();
    const n1 = lock.command({ id: "c1", type: "challenge" }).nonce!;
    clock.advance(NONCE_TTL_MS + 1);
    const p1 = proofFor("n-1", n1, t1, device.secretKey);
    expect(lock.command({ id: "u1", type: "unlock", token: t1, nonce: n1, proof: p1 })).toMatchObject({
      ok: false,
      code: "bad_proof",
      message: "the challenge expired",
    });
    const t2 = token();
    const n2 = lock.command({ id: "c2", type: "challenge" }).nonce!;
    clock.advance(NONCE_TTL_MS);
    const p2 = proofFor("n-1", n2, t2, device.secretKey);
    expect(lock.command({ id: "u2", type: "unlock", token: t2, nonce: n2, proof: p2 }).ok).toBe(true);
  });

  it("a nonce issued by another lock, or never issued, is refused", () => {
    const t = token();
    const foreign = other.command({ id: "c1", type: "challenge" }).nonce!;
    const p = proofFor("n-1", foreign, t, device.secretKey);
    expect(lock.command({ id: "u1", type: "unlock", token: t, nonce: foreign, proof: p }).code).toBe("bad_proof");
    const made = new Uint8Array(16).fill(7);
    const p2 = proofFor("n-1", made, t, device.secretKey);
    expect(lock.command({ id: "u2", type: "unlock", token: t, nonce: made, proof: p2 }).code).toBe("bad_proof");
  });

  it("a proof made for one token cannot carry another token, nor be used at another lock", () => {
    const t1 = token();
    const t2 = token();
    const n = lock.command({ id: "c1", type: "challenge" }).nonce!;
    const forT1 = proofFor("n-1", n, t1, device.secretKey);
    expect(lock.command({ id: "u1", type: "unlock", token: t2, nonce: n, proof: forT1 }).code).toBe("bad_proof");
    const t3 = mint(issuer, claimsFor("n-2", device.publicKey));
    const n2 = other.command({ id: "c2", type: "challenge" }).nonce!;
    const madeForN1 = proofFor("n-1", n2, t3, device.secretKey);
    expect(other.command({ id: "u2", type: "unlock", token: t3, nonce: n2, proof: madeForN1 }).code).toBe("bad_proof");
  });

  it("nonces come from the injected random source (seeded: reproducible)", async () => {
    const a = lock.command({ id: "c1", type: "challenge" }).nonce!;
    const dir = tmp.make();
    const twin = await startLock({ lockId: "n-1", dataDir: dir, clock, random: seededRandom("n1"), tickIntervalMs: 0 });
    try {
      cloud.provision(twin);
      expect(twin.command({ id: "c1", type: "challenge" }).nonce).toEqual(a);
    } finally {
      await twin.stop();
    }
  });
});
