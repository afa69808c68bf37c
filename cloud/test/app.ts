import { keyPairFromSeed, signUnlockProof, toBase64Url, toHex } from "@latchkey/protocol";
import { seededRandom, type TestCloud, until } from "./helpers.js";

export interface Phone {
  userId: string;
  deviceId: string;
  token: string;
  secretKey: Uint8Array;
  publicKey: Uint8Array;
}

/** Reads the development sender's one-time code for a number from the cloud's log. */
export async function codeFromLog(t: TestCloud, phoneNumber: string | undefined, after = 0): Promise<string> {
  return until(`one-time code for ${phoneNumber}`, () => {
    const lines = t.logs.lines
      .slice(after)
      .filter((l) => l.msg === "one-time code" && (phoneNumber === undefined || l.phoneNumber === phoneNumber));
    return lines.length > 0 && (lines[lines.length - 1]!.code as string);
  });
}

/** A phone that proved its number and registered a device key (docs/app-api.md steps 1 and 2). */
export async function registerPhone(t: TestCloud, phoneNumber: string, seed = phoneNumber): Promise<Phone> {
  const { secretKey, publicKey } = keyPairFromSeed(seededRandom(`device:${seed}`)(32));
  const mark = t.logs.lines.length;
  const started = await t.call("POST", "/app/v1/verification", { body: { phoneNumber } });
  if (started.status !== 202) throw new Error(`verification: ${started.status} ${JSON.stringify(started.body)}`);
  const code = await codeFromLog(t, undefined, mark);
  const confirmed = await t.call("POST", `/app/v1/verification/${started.body.verificationId}/confirm`, {
    body: { code, devicePublicKey: toHex(publicKey), deviceName: "test phone" },
  });
  if (confirmed.status !== 200) throw new Error(`confirm: ${confirmed.status} ${JSON.stringify(confirmed.body)}`);
  return {
    userId: confirmed.body.userId,
    deviceId: confirmed.body.deviceId,
    token: confirmed.body.accessToken,
    secretKey,
    publicKey,
  };
}

/** Opens a virtual lock as a phone would: challenge, then the token with a proof over the nonce. */
export async function unlockVirtual(t: TestCloud, phone: Phone, lockId: string, tokenB64: string) {
  const challenge = await t.call("POST", `/app/v1/virtual-locks/${lockId}/challenge`, { token: phone.token });
  if (challenge.status !== 200) throw new Error(`challenge: ${challenge.status} ${JSON.stringify(challenge.body)}`);
  const nonce = Buffer.from(challenge.body.nonce, "base64url");
  const token = Buffer.from(tokenB64, "base64url");
  const proof = signUnlockProof({
    lockId,
    nonce: new Uint8Array(nonce),
    token: new Uint8Array(token),
    deviceSecretKey: phone.secretKey,
  });
  return t.call("POST", `/app/v1/virtual-locks/${lockId}/unlock`, {
    token: phone.token,
    body: { token: tokenB64, proof: toBase64Url(proof), nonce: challenge.body.nonce },
  });
}

/** The phone's prefetch (tokens minted at the cloud's now) and the token it got for `keyId`. */
export async function prefetchedToken(t: TestCloud, phone: Phone, keyId: string): Promise<string> {
  const prefetch = await t.call("GET", "/app/v1/keys", { token: phone.token });
  if (prefetch.status !== 200) throw new Error(`prefetch: ${prefetch.status} ${JSON.stringify(prefetch.body)}`);
  return (prefetch.body.keys as { keyId: string; token: string }[]).find((k) => k.keyId === keyId)!.token;
}
