// The example of README.md "The lock simulator in your own tests", verbatim below the imports: if it breaks, the
// README is wrong. (Your own project imports the same names from "@latchkey/lock-sim" and "@latchkey/protocol".)
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Phone, type SimLock, startLock, VirtualRadio } from "@latchkey/lock-sim";
import { keyPairFromSeed, signKeyToken } from "@latchkey/protocol";
import { afterEach, expect, it } from "vitest";

let lock: SimLock | undefined;
let phone: Phone | undefined;
let dir: string | undefined;
afterEach(async () => {
  phone?.close();
  await lock?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

it("a phone opens a simulated lock over the virtual BLE radio with a token my app signed", async () => {
  dir = mkdtempSync(join(tmpdir(), "my-lock-test-"));
  const issuer = keyPairFromSeed(randomBytes(32));
  const kid = new Uint8Array([1]);
  const radio = new VirtualRadio();
  // A lock that trusts my issuer key from the factory; no broker needed.
  lock = await startLock({ lockId: "door-1", dataDir: dir, radio, trust: [{ kid, publicKey: issuer.publicKey }] });

  phone = new Phone();
  const now = Math.floor(Date.now() / 1000);
  const claims = { iss: "my-app", sub: "+4790000000", iat: now, nbf: now, exp: now + 3600 };
  const keyFor = (aud: string, holder: Phone) =>
    signKeyToken(
      { ...claims, aud, cti: randomBytes(16), cnf: holder.devicePublicKey },
      { kid, secretKey: issuer.secretKey },
    );
  phone.addToken(keyFor("door-1", phone), [{ kid, publicKey: issuer.publicKey }]);

  expect(await phone.unlock("door-1", { radio })).toMatchObject({ ok: true });
  expect(lock.events.at(-1)).toMatchObject({ type: "unlocked", seq: 1 });

  // The lock refuses a token for another lock, with the code of docs/design.md section 2.
  const nonce = lock.command({ id: "c1", type: "challenge" }).nonce!;
  const token = keyFor("door-2", phone);
  const wrong = lock.command({ id: "u1", type: "unlock", token, nonce, proof: new Uint8Array(64) });
  expect(wrong).toMatchObject({ ok: false, code: "wrong_lock" });
});
