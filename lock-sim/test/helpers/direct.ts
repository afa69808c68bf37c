import type { CommandResult } from "@latchkey/protocol";
import type { SimLock } from "../../src/index.js";
import { proofFor } from "./keys.js";

let n = 0;

/** Challenge and unlock straight at the lock (no transport), as a phone would. */
export function unlockDirect(lock: SimLock, token: Uint8Array, deviceSecret: Uint8Array): CommandResult {
  const nonce = lock.command({ id: `d${++n}`, type: "challenge" }).nonce!;
  return lock.command({
    id: `d${++n}`,
    type: "unlock",
    token,
    nonce,
    proof: proofFor(lock.id, nonce, token, deviceSecret),
  });
}
