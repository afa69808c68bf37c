// The example of README.md "The lock simulator in your own tests", verbatim below the imports: if it breaks, the
// README is wrong. (Your own project imports the same names from "@latchkey/lock-sim" and "@latchkey/protocol".)
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Phone, type SimLock, startLock, VirtualRadio } from "@latchkey/lock-sim";
import {
  decodeSetupCode,
  decodeTimeRequest,
  keyPairFromSeed,
  pinTag,
  signKeyToken,
  signLockState,
  signTimeAnswer,
  x25519KeyPairFromSeed,
} from "@latchkey/protocol";
import { afterEach, expect, it } from "vitest";

let lock: SimLock | undefined;
let phone: Phone | undefined;
let dir: string | undefined;
afterEach(async () => {
  phone?.close();
  await lock?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

it("a lock driven by signed documents opens for a token my app signed, and a phone carries it a revocation", async () => {
  dir = mkdtempSync(join(tmpdir(), "my-lock-test-"));
  // ── README.md from here ──
  const radio = new VirtualRadio();
  lock = await startLock({ lockId: "door-1", dataDir: dir, radio }); // no broker needed
  // My test plays the lock holder's cloud (docs/trust.md): an authority signs the lock's state, an issuer key signs tokens.
  const authority = keyPairFromSeed(randomBytes(32));
  const issuer = keyPairFromSeed(randomBytes(32));
  const kid = new Uint8Array([1]);
  const reportKey = { id: new Uint8Array([1]), x: x25519KeyPairFromSeed(randomBytes(32)).publicKey };
  // The first state pins the authority: its pin tag proves it knows the claim secret on the lock's setup code.
  const pin = pinTag(decodeSetupCode(lock.setupCode).claimSecret, "door-1", authority.publicKey);
  const now = Math.floor(Date.now() / 1000);
  const stateDoc = (v: number, revoked: Uint8Array[] = []) =>
    signLockState(
      {
        lock: "door-1",
        v,
        iat: now,
        issuers: [{ kid, x: issuer.publicKey, notAfter: now + 86_400 }],
        revoked: revoked.map((cti) => ({ cti })),
        ack: 0,
        reportKey,
      },
      { secretKey: authority.secretKey, pinTag: pin },
    );

  // The lock believes only signed documents: its state, and the answer to its own time request.
  expect(lock.command({ id: "s1", type: "state", doc: stateDoc(1) })).toMatchObject({ ok: true, v: 1 });
  const { nonce } = decodeTimeRequest(lock.command({ id: "t1", type: "time_request" }).request!);
  const answer = signTimeAnswer({ lock: "door-1", nonce, time: Date.now() }, authority.secretKey);
  expect(lock.command({ id: "t2", type: "time_answer", answer })).toMatchObject({ ok: true });

  phone = new Phone();
  const claims = { iss: "my-app", sub: "+4790000000", iat: now, nbf: now, exp: now + 3600 };
  const keyFor = (aud: string, holder: Phone) =>
    signKeyToken(
      { ...claims, aud, cti: randomBytes(16), cnf: holder.devicePublicKey },
      { kid, secretKey: issuer.secretKey },
    );
  const key = phone.addToken(keyFor("door-1", phone), [{ kid, publicKey: issuer.publicKey }]);
  expect(await phone.unlock("door-1", { radio })).toMatchObject({ ok: true });
  expect(lock.events.at(-1)).toMatchObject({ type: "unlocked" });

  // A revocation is a newer state, and any courier may carry it: here the phone hands it over before unlocking.
  phone.addState({ lockId: "door-1", v: 2, state: stateDoc(2, [key.claims.cti]) });
  expect(await phone.unlock("door-1", { radio })).toMatchObject({ ok: false, code: "revoked", delivered: { v: 2 } });

  // The lock refuses a token for another lock, with the code of docs/design.md section 2.
  const challenge = lock.command({ id: "c1", type: "challenge" }).nonce!;
  const token = keyFor("door-2", phone);
  const wrong = lock.command({ id: "u1", type: "unlock", token, nonce: challenge, proof: new Uint8Array(64) });
  expect(wrong).toMatchObject({ ok: false, code: "wrong_lock" });
  // ── to here ──
});

it("README.md carries the example above, line for line", () => {
  const root = fileURLToPath(new URL("../..", import.meta.url));
  const readme = readFileSync(join(root, "README.md"), "utf8");
  const section = readme.slice(readme.indexOf("## The lock simulator in your own tests"));
  const block = /```ts\n([\s\S]*?)```/.exec(section)?.[1] ?? "";
  const source = readFileSync(fileURLToPath(import.meta.url), "utf8");
  const example = source.slice(source.indexOf("// ── README.md from here ──\n"), source.indexOf("  // ── to here ──"));
  // The README's lines without its imports and closing comment, against the test's lines without their indentation
  // and the two marker lines; `lock` and `phone` are declared in the README (`const`), outside the test body here.
  const lines = (text: string) =>
    text
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l !== "" && !l.startsWith("// ──") && !l.startsWith("// afterEach"))
      .map((l) => l.replace(/^const (lock|phone) = /, "$1 = "));
  // The imports end at the block's first empty line.
  const body = block.slice(block.indexOf("\n\n"));
  expect(body.length).toBeGreaterThan(0);
  expect(lines(body)).toEqual(lines(example));
});
