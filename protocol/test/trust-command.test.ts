import { describe, expect, it } from "vitest";
import {
  commandResultBinding,
  ManualClock,
  NonceBook,
  type RemoteCommand,
  resultMatchesCommand,
  signRemoteCommand,
  signTimeAnswer,
  type VerifyRemoteCommandOptions,
  verifyRemoteCommand,
} from "../src/index.js";
import { sha256 } from "../src/token/proof.js";
import { seed, token } from "./helpers.js";
import { authority, IAT, LOCK, otherAuthority, signedState } from "./trust-helpers.js";

/** A lock's command nonce book and counter, as the lock keeps them. */
function lockSide() {
  const local = new ManualClock(9_000_000);
  const nonces = new NonceBook();
  let n = 0;
  const state = { lastCounter: 0 };
  const challenge = () => nonces.issue(seed(`command nonce ${n++}`).subarray(0, 16), local.now());
  const options = (): VerifyRemoteCommandOptions => ({
    lockId: LOCK,
    authority: authority.publicKey,
    nonces,
    nowMs: local.now(),
    lastCounter: state.lastCounter,
  });
  /** Verifies and, when accepted, executes: the counter is stored. */
  const receive = (bytes: Uint8Array) => {
    const verdict = verifyRemoteCommand(bytes, options());
    if (verdict.ok) state.lastCounter = verdict.command.counter;
    return verdict.ok ? "ok" : verdict.code;
  };
  return { local, challenge, options, receive, state };
}

const command = (nonce: Uint8Array, o: Partial<RemoteCommand> & { secretKey?: Uint8Array } = {}) =>
  signRemoteCommand(
    { lock: o.lock ?? LOCK, nonce, counter: o.counter ?? 1, action: o.action ?? "unlock" },
    o.secretKey ?? authority.secretKey,
  );

describe("remote command", () => {
  it("round-trips", () => {
    const lock = lockSide();
    const nonce = lock.challenge();
    const verdict = verifyRemoteCommand(command(nonce, { counter: 7, action: "lock" }), lock.options());
    expect(verdict).toEqual({ ok: true, command: { lock: LOCK, nonce, counter: 7, action: "lock" } });
  });

  it("replayed: bad_nonce (the nonce answered once)", () => {
    const lock = lockSide();
    const doc = command(lock.challenge());
    expect(lock.receive(doc)).toBe("ok");
    expect(lock.receive(doc)).toBe("bad_nonce");
  });

  it("reordered: a command held back and played after a later one is stale_counter", () => {
    const lock = lockSide();
    const first = command(lock.challenge(), { counter: 1 });
    const second = command(lock.challenge(), { counter: 2 });
    expect(lock.receive(second)).toBe("ok");
    expect(lock.receive(first)).toBe("stale_counter");
    // An equal counter with a fresh nonce is refused too.
    expect(lock.receive(command(lock.challenge(), { counter: 2 }))).toBe("stale_counter");
    expect(lock.receive(command(lock.challenge(), { counter: 3 }))).toBe("ok");
  });

  it("held past the nonce's life: nonce_expired", () => {
    const lock = lockSide();
    const doc = command(lock.challenge());
    lock.local.advance(30_001);
    expect(lock.receive(doc)).toBe("nonce_expired");
  });

  it("for another lock: wrong_lock; by another authority: wrong_authority; tampered: bad_signature", () => {
    const lock = lockSide();
    const nonce = lock.challenge();
    expect(lock.receive(command(nonce, { lock: "lock-2" }))).toBe("wrong_lock");
    expect(lock.receive(command(nonce, { secretKey: otherAuthority.secretKey }))).toBe("wrong_authority");
    const tampered = command(nonce, { action: "lock" });
    // The action "lock" (text of 4: 64 6c 6f 63 6b) turned into "unlo" by a courier: same length, same shape.
    const at = Buffer.from(tampered).indexOf(Buffer.from("646c6f636b", "hex"));
    expect(at).toBeGreaterThan(0);
    tampered.set(new TextEncoder().encode("unlo"), at + 1);
    expect(lock.receive(tampered)).toBe("bad_signature");
    expect(lock.receive(command(nonce))).toBe("ok");
  });

  it("type confusion: a time answer, a state or a key token is never a command (wrong_type)", () => {
    const lock = lockSide();
    const nonce = lock.challenge();
    const timeAnswer = signTimeAnswer({ lock: LOCK, nonce, time: IAT * 1000 }, authority.secretKey);
    for (const doc of [timeAnswer, signedState(), token()]) expect(lock.receive(doc)).toBe("wrong_type");
    expect(lock.receive(command(nonce))).toBe("ok");
  });

  it("oversize is too_large and deep nesting too_deep, before any signature check", () => {
    const lock = lockSide();
    expect(lock.receive(new Uint8Array(513))).toBe("too_large");
    expect(lock.receive(Uint8Array.from([0xd2, ...new Array(20).fill(0x81), 0x00]))).toBe("too_deep");
    expect(lock.receive(Uint8Array.from([0xd2, 0x84, 0x40, 0xa0, 0x40]))).toBe("malformed");
  });

  it("signing refuses a command out of shape", () => {
    const nonce = seed("n").subarray(0, 16);
    expect(() => command(nonce, { counter: 0 })).toThrow(TypeError);
    expect(() => command(nonce, { action: "open" as "unlock" })).toThrow(TypeError);
    expect(() => command(new Uint8Array(4))).toThrow(TypeError);
  });

  it("the result binding is sha256(nonce): an unrelated event does not pass as the command's success", () => {
    const nonce = seed("n").subarray(0, 16);
    const binding = commandResultBinding(nonce);
    expect(binding).toEqual(sha256(nonce));
    expect(resultMatchesCommand(binding, nonce)).toBe(true);
    expect(resultMatchesCommand(commandResultBinding(seed("other").subarray(0, 16)), nonce)).toBe(false);
    expect(resultMatchesCommand(undefined, nonce)).toBe(false);
    expect(resultMatchesCommand(binding.subarray(0, 16), nonce)).toBe(false);
  });
});
