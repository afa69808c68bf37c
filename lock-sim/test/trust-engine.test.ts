import {
  decodeSetupCode,
  decodeTimeRequest,
  deriveReportKey,
  type KeyClaims,
  ManualClock,
  verifyKeyToken,
} from "@latchkey/protocol";
import Database from "better-sqlite3";
import { beforeEach, describe, expect, it } from "vitest";
import { IdentityFlash } from "../src/flash/identity-flash.js";
import { LockFlash } from "../src/flash/lock-flash.js";
import { FlashError, type LockOptions, type SimLock, seededRandom } from "../src/index.js";
import { Actuator } from "../src/lock/actuator.js";
import { Battery } from "../src/lock/battery.js";
import { bootIdentity } from "../src/lock/identity.js";
import { TrustEngine } from "../src/lock/trust-engine.js";
import { lockBootsEach } from "./helpers/boots.js";
import {
  type Authority,
  answerTime,
  command,
  handOver,
  makeAuthority,
  REPORT_KID,
  reportKeyPair,
  type StateOptions,
  signState,
} from "./helpers/cloud.js";
import { claimsFor, cti, makeDevice, makeIssuer, mint, T0 } from "./helpers/keys.js";
import { TempDirs } from "./helpers/tmp.js";

/**
 * The lock's trust engine (lock/trust-engine.ts, docs/trust.md "Lock"), run inside a real simulated lock with its
 * flash, the cloud played by protocol's signers.
 */
const DAY_MS = 86_400_000;
const owner = makeAuthority("owner");
const stranger = makeAuthority("stranger");
const issuer = makeIssuer("engine");
const device = makeDevice("engine");

describe("lock trust engine", () => {
  const tmp = new TempDirs();
  let clock: ManualClock;
  const locks = lockBootsEach(() => clock, tmp);
  const boot = (lockId = "lock-a", dataDir = tmp.make(), extra: Partial<LockOptions> = {}) =>
    locks.boot(lockId, dataDir, extra);

  async function reboot(lock: SimLock, extra: Partial<LockOptions> = {}): Promise<SimLock> {
    locks.release(lock);
    await lock.powerLoss();
    return boot(lock.id, lock.flashPath.replace(/\/flash\.db$/, ""), extra);
  }

  const nowS = () => Math.floor(clock.now() / 1000);

  /** A state for `lock` by `authority` (pin tag from its setup code), issuer trusted for a year. */
  function state(lock: SimLock, options: Partial<StateOptions> = {}, iat = nowS()): Uint8Array {
    return signState(lock.id, iat, {
      authority: owner,
      setupCode: lock.setupCode,
      issuers: [{ issuer, notAfter: T0 + 365 * 86_400 }],
      ...options,
    });
  }

  /** One round trip of signed time, answered at the cloud's (true) time after `rttMs`. */
  function syncTime(lock: SimLock, authority: Authority = owner, rttMs = 200) {
    const request = lock.trust.timeRequest();
    clock.advance(rttMs);
    return lock.trust.applyTimeAnswer(answerTime(request, clock.now() - rttMs / 2, authority));
  }

  function token(lockId: string, overrides: Partial<KeyClaims> = {}): Uint8Array {
    return mint(issuer, claimsFor(lockId, device.publicKey, { nbf: nowS() - 3600, exp: nowS() + 3600, ...overrides }));
  }

  beforeEach(() => {
    clock = new ManualClock(T0 * 1000);
  });

  describe("pinning", () => {
    it("pins only with a pin tag made with this lock's claim secret, for this lock and this authority", async () => {
      const lock = await boot();
      const other = await boot("lock-b");
      const untagged = lock.trust.applyState(state(lock, { setupCode: undefined }));
      expect(untagged.ok || untagged.code).toBe("bad_pin");
      const wrongSecret = lock.trust.applyState(state(lock, { setupCode: undefined, claimSecret: new Uint8Array(16) }));
      expect(wrongSecret.ok || wrongSecret.code).toBe("bad_pin");
      // lock B's code vouches for lock B: its tag does not move to lock A.
      const otherSecret = decodeSetupCode(other.setupCode).claimSecret;
      const moved = lock.trust.applyState(state(lock, { setupCode: undefined, claimSecret: otherSecret }));
      expect(moved.ok || moved.code).toBe("bad_pin");
      expect(lock.trust.authority).toBeUndefined();
      expect(lock.trust.state).toBeUndefined();

      const pinned = lock.trust.applyState(state(lock));
      expect(pinned.ok && pinned.pin).toBe("first");
      expect(lock.trust.authority).toEqual(owner.publicKey);
    });

    it("after pinning another authority is refused, even with a valid pin tag of its own", async () => {
      const lock = await boot();
      expect(lock.trust.applyState(state(lock)).ok).toBe(true);
      const rival = lock.trust.applyState(state(lock, { authority: stranger }));
      expect(rival.ok || rival.code).toBe("wrong_authority");
      expect(lock.trust.authority).toEqual(owner.publicKey);
    });

    it("a hand-over moves the pin once; the old authority is refused after it, also after a reboot", async () => {
      let lock = await boot();
      const first = lock.trust.applyState(state(lock));
      expect(first.ok).toBe(true);
      const next = makeAuthority("owner-next");
      const v = (lock.trust.state?.v ?? 0) + 1;
      const carried = handOver(owner, next, v);
      // A hand-over signed by someone else than the pinned authority is no hand-over.
      const forged = lock.trust.applyState(state(lock, { authority: next, handOver: handOver(stranger, next, v) }));
      expect(forged.ok || forged.code).toBe("bad_handover");

      const moved = lock.trust.applyState(state(lock, { authority: next, handOver: carried, state: { v: v + 1 } }));
      expect(moved.ok && moved.pin).toBe("handover");
      expect(lock.trust.authority).toEqual(next.publicKey);
      // Carried again in the new key's next state: ignored, the pin is kept.
      const again = lock.trust.applyState(state(lock, { authority: next, handOver: carried }));
      expect(again.ok && again.pin).toBe("kept");
      const old = lock.trust.applyState(state(lock, { authority: owner }));
      expect(old.ok || old.code).toBe("wrong_authority");

      lock = await reboot(lock);
      expect(lock.trust.authority).toEqual(next.publicKey);
      const oldAfterReboot = lock.trust.applyState(state(lock, { authority: owner }));
      expect(oldAfterReboot.ok || oldAfterReboot.code).toBe("wrong_authority");
    });
  });

  describe("applied state", () => {
    it("refuses a replayed or older state, also after a reboot", async () => {
      let lock = await boot();
      const older = state(lock);
      const newer = state(lock);
      expect(lock.trust.applyState(newer).ok).toBe(true);
      const replay = lock.trust.applyState(newer);
      expect(replay.ok || replay.code).toBe("stale_version");
      const rollback = lock.trust.applyState(older);
      expect(rollback.ok || rollback.code).toBe("stale_version");
      lock = await reboot(lock);
      const afterReboot = lock.trust.applyState(newer);
      expect(afterReboot.ok || afterReboot.code).toBe("stale_version");
    });

    it("at boot the stored state is verified again: a pin swapped in flash stops the lock with a FlashError", async () => {
      const lock = await boot();
      expect(lock.trust.applyState(state(lock)).ok).toBe(true);
      const dir = lock.flashPath.replace(/\/flash\.db$/, "");
      locks.release(lock);
      await lock.stop();
      const db = new Database(lock.flashPath);
      db.prepare("UPDATE lock_trust SET authority = ? WHERE lock = ?").run(stranger.publicKey, lock.id);
      db.close();
      const refused = await boot(lock.id, dir).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(FlashError);
      expect((refused as Error).message).toContain("does not verify");
    });

    it("refuses lock A's state at lock B, whether B is unpinned or pinned to the same authority", async () => {
      const a = await boot("lock-a");
      const b = await boot("lock-b");
      const forA = state(a);
      const unpinned = b.trust.applyState(forA);
      expect(unpinned.ok || unpinned.code).toBe("bad_pin");
      expect(b.trust.applyState(state(b)).ok).toBe(true);
      const pinned = b.trust.applyState(forA);
      expect(pinned.ok || pinned.code).toBe("wrong_lock");
    });

    it("refuses another document kind passed as a state (a key token, a time answer)", async () => {
      const lock = await boot();
      expect(lock.trust.applyState(state(lock)).ok).toBe(true);
      const asToken = lock.trust.applyState(token(lock.id));
      expect(asToken.ok || asToken.code).toBe("wrong_type");
      const request = lock.trust.timeRequest();
      const asAnswer = lock.trust.applyState(answerTime(request, clock.now(), owner));
      expect(asAnswer.ok || asAnswer.code).toBe("wrong_type");
    });
  });

  describe("time", () => {
    it("no key opens before a signed time answer, even when a state's iat has set the clock", async () => {
      const lock = await boot();
      expect(lock.trust.applyState(state(lock)).ok).toBe(true);
      expect(lock.trust.reading().nowMs).toBe(T0 * 1000);
      const check = lock.trust.checkKeyToken(token(lock.id));
      expect(check.ok || check.code).toBe("clock_unset");
      expect(syncTime(lock).ok).toBe(true);
      expect(lock.trust.checkKeyToken(token(lock.id)).ok).toBe(true);
    });

    it("a state moves the clock forward to its iat, never back; a time answer corrects it either way but not below the iat", async () => {
      const lock = await boot();
      expect(lock.trust.applyState(state(lock)).ok).toBe(true);
      expect(syncTime(lock).ok).toBe(true);
      const at = () => lock.trust.reading().nowMs!;
      // A state from 10 minutes ahead moves the clock forward …
      expect(lock.trust.applyState(state(lock, {}, nowS() + 600)).ok).toBe(true);
      expect(at()).toBe((T0 + 600) * 1000);
      // … and a time answer below the applied state's iat is refused …
      const behind = syncTime(lock);
      expect(behind.ok || behind.code).toBe("time_behind_state");
      expect(at()).toBeGreaterThanOrEqual((T0 + 600) * 1000);
      // … a later state with an older iat does not move the clock back …
      expect(lock.trust.applyState(state(lock, {}, nowS() - 600)).ok).toBe(true);
      expect(at()).toBeGreaterThanOrEqual((T0 + 600) * 1000);
      // … and a time answer at or after the applied iat corrects it, here backwards, to the cloud's time.
      clock.advance(1000);
      expect(syncTime(lock, owner, 0).ok).toBe(true);
      expect(Math.abs(at() - clock.now())).toBeLessThanOrEqual(1);
    });

    it("a time answer is taken only for the engine's own unused nonce, from its authority, within 5 s", async () => {
      const lock = await boot();
      expect(lock.trust.applyState(state(lock)).ok).toBe(true);
      const request = lock.trust.timeRequest();
      const answer = answerTime(request, clock.now(), owner);
      expect(lock.trust.applyTimeAnswer(answerTime(request, clock.now(), stranger))).toMatchObject({
        ok: false,
        code: "wrong_authority",
      });
      expect(lock.trust.applyTimeAnswer(answer).ok).toBe(true);
      expect(lock.trust.applyTimeAnswer(answer)).toMatchObject({ ok: false, code: "bad_nonce" });
      const slow = lock.trust.timeRequest();
      clock.advance(5_001);
      expect(lock.trust.applyTimeAnswer(answerTime(slow, clock.now(), owner))).toMatchObject({
        ok: false,
        code: "rtt_exceeded",
      });
      expect(decodeTimeRequest(slow).lock).toBe(lock.id);
    });

    it("the clock and its uncertainty survive a reboot", async () => {
      let lock = await boot();
      expect(lock.trust.applyState(state(lock)).ok).toBe(true);
      expect(syncTime(lock).ok).toBe(true);
      clock.advance(3_600_000);
      const before = lock.trust.keyCheckOptions();
      lock = await reboot(lock);
      const after = lock.trust.keyCheckOptions();
      expect(after.ok).toBe(true);
      expect(after.ok && before.ok && [after.now, after.uncertainty]).toEqual(
        before.ok && [before.now, before.uncertainty],
      );
    });

    for (const ppm of [1389, -1389]) {
      it(`30 days offline drifting ${ppm > 0 ? "+" : "-"}2 min/day: expired refused before and after one time answer, valid opens after`, async () => {
        const lock = await boot("lock-a", tmp.make(), { drift: { ppm } });
        expect(lock.trust.applyState(state(lock)).ok).toBe(true);
        expect(syncTime(lock).ok).toBe(true);
        const start = nowS();
        const expired = token(lock.id, { exp: start + 30 * 86_400 - 1800, nbf: start - 60 });
        const valid = token(lock.id, { exp: start + 30 * 86_400 + 3 * 3600, nbf: start - 60 });
        clock.advance(30 * DAY_MS);

        const truth = clock.now();
        const { nowMs: lockNow, uncertaintyMs: u } = lock.trust.reading();
        expect(Math.abs(lockNow! - truth)).toBeGreaterThan(55 * 60_000); // an hour off, give or take
        expect(Math.abs(lockNow! - truth)).toBeLessThanOrEqual(u);
        const refused = lock.trust.checkKeyToken(expired);
        expect(refused.ok || refused.code).toBe("expired");
        if (ppm < 0) {
          // Slow: without the uncertainty the lock would have opened for the expired key.
          const check = lock.trust.keyCheckOptions();
          expect(check.ok).toBe(true);
          if (check.ok) {
            const naive = verifyKeyToken(expired, { ...check, uncertainty: 0, lockId: lock.id });
            expect(naive.ok).toBe(true);
          }
        }

        expect(syncTime(lock).ok).toBe(true);
        const corrected = lock.trust.reading();
        expect(Math.abs(corrected.nowMs! - clock.now())).toBeLessThanOrEqual(corrected.uncertaintyMs);
        expect(corrected.uncertaintyMs).toBeLessThan(2_600);
        const after = lock.trust.checkKeyToken(expired);
        expect(after.ok || after.code).toBe("expired");
        expect(lock.trust.checkKeyToken(valid).ok).toBe(true);
      });
    }

    it("maxStale fails closed once the state may be older than it, until a newer state", async () => {
      const lock = await boot();
      expect(lock.trust.applyState(state(lock, { state: { maxStale: 3600 } })).ok).toBe(true);
      expect(syncTime(lock).ok).toBe(true);
      const key = token(lock.id, { exp: nowS() + 86_400 });
      expect(lock.trust.checkKeyToken(key).ok).toBe(true);
      clock.advance(3_600_000);
      const stale = lock.trust.checkKeyToken(key);
      expect(stale.ok || stale.code).toBe("state_stale");
      expect(lock.trust.applyState(state(lock, { state: { maxStale: 3600 } })).ok).toBe(true);
      expect(lock.trust.checkKeyToken(key).ok).toBe(true);
    });
  });

  describe("key tokens through the engine", () => {
    it("a valid key opens; a revoked one is refused; a re-minted token of an edited key opens", async () => {
      const lock = await boot();
      const revokedCti = cti();
      const edited = cti();
      expect(
        lock.trust.applyState(
          state(lock, {
            state: { revoked: [{ cti: revokedCti }, { cti: edited, before: nowS() - 10 }] },
          }),
        ).ok,
      ).toBe(true);
      expect(syncTime(lock).ok).toBe(true);
      expect(lock.trust.checkKeyToken(token(lock.id)).ok).toBe(true);
      const revoked = lock.trust.checkKeyToken(token(lock.id, { cti: revokedCti }));
      expect(revoked.ok || revoked.code).toBe("revoked");
      const oldEdit = lock.trust.checkKeyToken(token(lock.id, { cti: edited, iat: nowS() - 100 }));
      expect(oldEdit.ok || oldEdit.code).toBe("revoked");
      expect(lock.trust.checkKeyToken(token(lock.id, { cti: edited, iat: nowS() })).ok).toBe(true);
    });

    it("an issuer whose notAfter has passed on the lock's clock is refused without any new document", async () => {
      const lock = await boot();
      expect(lock.trust.applyState(state(lock, { issuers: [{ issuer, notAfter: nowS() + 900 }] })).ok).toBe(true);
      expect(syncTime(lock).ok).toBe(true);
      const key = token(lock.id, { exp: nowS() + 86_400 });
      expect(lock.trust.checkKeyToken(key).ok).toBe(true);
      // notAfter + 60 s leeway, minus the clock's uncertainty: retired by 17 minutes on.
      clock.advance(17 * 60_000);
      const retired = lock.trust.checkKeyToken(key);
      expect(retired.ok || retired.code).toBe("unknown_issuer");
    });

    it("a recurring key opens only in its weekly window, in the zone of the signed state, and never without a zone", async () => {
      // T0 is Friday 08:00 UTC, 09:00 in Oslo: the key's window is Fridays 08:00–10:00 Oslo time.
      const lock = await boot();
      const key = token(lock.id, { exp: nowS() + 30 * 86_400, sched: [{ day: 5, start: 480, end: 600 }] });
      expect(lock.trust.applyState(state(lock)).ok).toBe(true);
      expect(syncTime(lock).ok).toBe(true);
      const noZone = lock.trust.checkKeyToken(key);
      expect(noZone.ok || noZone.code).toBe("no_timezone");
      expect(lock.trust.applyState(state(lock, { state: { tz: "Europe/Oslo" } })).ok).toBe(true);
      expect(lock.trust.checkKeyToken(key).ok).toBe(true);
      clock.advance(2 * 3_600_000); // 11:00 Oslo
      const late = lock.trust.checkKeyToken(key);
      expect(late.ok || late.code).toBe("outside_schedule");
      clock.advance(22 * 3_600_000); // Saturday 09:00
      const saturday = lock.trust.checkKeyToken(key);
      expect(saturday.ok || saturday.code).toBe("outside_schedule");
      clock.advance(6 * DAY_MS);
      expect(syncTime(lock).ok).toBe(true);
      expect(lock.trust.checkKeyToken(key).ok).toBe(true); // the next Friday, 09:00
      // The zone is the signed state's: the lock holder moving the lock to New York moves the window with it.
      expect(lock.trust.applyState(state(lock, { state: { tz: "America/New_York" } })).ok).toBe(true);
      const moved = lock.trust.checkKeyToken(key);
      expect(moved.ok || moved.code).toBe("outside_schedule");
    });

    it("a key for another lock is refused, and nothing opens with no state at all", async () => {
      const lock = await boot();
      const none = lock.trust.checkKeyToken(token(lock.id));
      expect(none.ok || none.code).toBe("no_state");
      expect(lock.trust.applyState(state(lock)).ok).toBe(true);
      expect(syncTime(lock).ok).toBe(true);
      const other = lock.trust.checkKeyToken(token("lock-b"));
      expect(other.ok || other.code).toBe("wrong_lock");
    });
  });

  describe("events, reports, commands", () => {
    it("frees events only up to the signed ack, never further, and nothing without a state", () => {
      const dir = tmp.make();
      clock = new ManualClock(T0 * 1000);
      const { flash } = LockFlash.open(dir, "ring-1", () => ({
        nextSeq: 1,
        droppedTotal: 0,
        stampFloorMs: 0,
        battery: Battery.initialRecord({}, clock.now()),
        actuator: Actuator.initialRecord(),
      }));
      try {
        const idFlash = new IdentityFlash(flash.database, "ring-1");
        const random = seededRandom("ring-1");
        const identity = bootIdentity(idFlash, { firstBoot: flash.created, random, path: flash.path });
        const engine = new TrustEngine({ identity, flash: idFlash, localClock: clock, random });
        for (let seq = 1; seq <= 5; seq++) {
          flash.appendEvent(seq, { id: random(16), ts: nowS(), type: "denied", code: "expired" }, 256, new Set(), 0);
        }
        expect(engine.freeAcknowledgedEvents(flash)).toBe(0);
        expect(flash.bufferedCount()).toBe(5);
        const signed = signState("ring-1", nowS(), {
          authority: owner,
          claimSecret: identity.claimSecret,
          state: { ack: 3 },
        });
        expect(engine.applyState(signed).ok).toBe(true);
        expect(engine.freeableThrough).toBe(3);
        expect(engine.freeAcknowledgedEvents(flash)).toBe(3);
        expect(flash.eventsAfter().map((e) => e.seq)).toEqual([4, 5]);
      } finally {
        flash.release();
      }
    });

    it("a remote command replayed or reordered is refused; the counter survives a reboot", async () => {
      let lock = await boot();
      expect(lock.trust.applyState(state(lock)).ok).toBe(true);
      const n1 = lock.trust.commandNonce();
      const n2 = lock.trust.commandNonce();
      const first = command(lock.id, n1, 1, owner);
      const second = command(lock.id, n2, 2, owner, "lock");
      expect(lock.trust.verifyCommand(second)).toMatchObject({ ok: true, command: { counter: 2, action: "lock" } });
      expect(lock.trust.verifyCommand(first)).toMatchObject({ ok: false, code: "stale_counter" });
      expect(lock.trust.verifyCommand(second)).toMatchObject({ ok: false, code: "bad_nonce" });
      expect(lock.trust.verifyCommand(command(lock.id, lock.trust.commandNonce(), 3, stranger))).toMatchObject({
        ok: false,
        code: "wrong_authority",
      });
      // A time nonce is not a command nonce.
      const timeNonce = decodeTimeRequest(lock.trust.timeRequest()).nonce;
      expect(lock.trust.verifyCommand(command(lock.id, timeNonce, 3, owner))).toMatchObject({
        ok: false,
        code: "bad_nonce",
      });
      lock = await reboot(lock);
      expect(lock.trust.commandCounter).toBe(2);
      expect(lock.trust.verifyCommand(command(lock.id, lock.trust.commandNonce(), 2, owner))).toMatchObject({
        ok: false,
        code: "stale_counter",
      });
      expect(lock.trust.verifyCommand(command(lock.id, lock.trust.commandNonce(), 3, owner)).ok).toBe(true);
    });

    it("the report key is the one the cloud derives, and the report counter never repeats across a reboot", async () => {
      let lock = await boot();
      expect(lock.trust.reportKey()).toBeUndefined();
      expect(lock.trust.applyState(state(lock)).ok).toBe(true);
      const key = lock.trust.reportKey()!;
      expect(key.kid).toEqual(REPORT_KID);
      const cloudSide = deriveReportKey({
        lockId: lock.id,
        cloudKeyId: REPORT_KID,
        cloudPrivate: reportKeyPair.privateKey,
        peerPublic: lock.publicKeys.agreementKey,
      });
      expect(key.key).toEqual(cloudSide);
      expect([lock.trust.nextReportCounter(), lock.trust.nextReportCounter()]).toEqual([1, 2]);
      lock = await reboot(lock);
      expect(lock.trust.nextReportCounter()).toBe(3);
    });
  });
});
