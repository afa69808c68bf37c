import { type Static, Type } from "@sinclair/typebox";
import { Nullable, Obj, Timestamp } from "./common.js";

const B64Url = (description: string) => Type.String({ pattern: "^[A-Za-z0-9_-]+$", maxLength: 4096, description });

export const StartVerification = Obj(
  {
    phoneNumber: Type.String({ minLength: 1, maxLength: 64 }),
    countryIso: Type.Optional(Type.String({ pattern: "^[A-Z]{2}$" })),
  },
  { examples: [{ phoneNumber: "+4791234567" }] },
);
export type StartVerification = Static<typeof StartVerification>;

export const VerificationStarted = Type.Object({ verificationId: Type.String(), expiresIn: Type.Integer() });
export type VerificationStarted = Static<typeof VerificationStarted>;

export const ConfirmVerification = Obj(
  {
    code: Type.String({ pattern: "^[0-9]{6}$", description: "the 6-digit one-time code" }),
    devicePublicKey: Type.String({ pattern: "^[0-9a-fA-F]{64}$", description: "Ed25519 public key, 32 bytes hex" }),
    deviceName: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
  },
  {
    examples: [
      {
        code: "123456",
        devicePublicKey: "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        deviceName: "Kari's phone",
      },
    ],
  },
);
export type ConfirmVerification = Static<typeof ConfirmVerification>;

export const DeviceSession = Type.Object({
  deviceId: Type.String(),
  accessToken: Type.String(),
  tokenType: Type.Literal("bearer"),
  expiresIn: Type.Integer(),
  userId: Type.String(),
});
export type DeviceSession = Static<typeof DeviceSession>;

export const AppKey = Type.Object({
  keyId: Type.String(),
  lockId: Type.String(),
  lockName: Type.String(),
  start: Timestamp,
  end: Nullable(Timestamp),
  state: Type.String(),
  token: Type.String({ description: "COSE_Sign1 key token, base64url" }),
  tokenExpires: Timestamp,
  useKeyUrl: Type.String(),
});
export type AppKey = Static<typeof AppKey>;

export const AppKeys = Type.Object({
  userId: Type.String(),
  keys: Type.Array(AppKey),
  issuers: Type.Array(Type.Object({ kid: Type.String(), x: Type.String() })),
  states: Type.Array(
    Type.Object({
      lockId: Type.String(),
      v: Type.Integer({ description: "the state's version; hand it to the lock when newer than the lock's" }),
      state: Type.String({ description: "the lock's latest signed state (COSE_Sign1, docs/trust.md), base64url" }),
    }),
    { description: "the latest signed state of each claimed lock these keys open (docs/app-api.md)" },
  ),
  prefetchKeysUrl: Type.String(),
});
export type AppKeys = Static<typeof AppKeys>;

export const ChallengeAnswer = Type.Object({ nonce: Type.String({ description: "16 bytes, base64url" }) });
export type ChallengeAnswer = Static<typeof ChallengeAnswer>;

export const UnlockRequest = Obj(
  {
    token: B64Url("the key token, base64url"),
    proof: B64Url("Ed25519 signature by the device key over the unlock challenge, base64url"),
    nonce: B64Url("the nonce from /challenge, base64url"),
  },
  {
    examples: [
      {
        token: "0oRYKaMBJwRIq83vEjRWeJoQeBxhcHBsaWNhdGlvbi9sYXRjaGtleS1rZXkrY3d0oFhv",
        proof: "W8mXhZCk7k1gqS0XyOwTZn9r1DCcRUBGVh3qfN4RKyT8ZSkbpCyx7xb0Qr4nG5wI8xJ1cuSIqvTa3h2bTxLQBw",
        nonce: "AAECAwQFBgcICQoLDA0ODw",
      },
    ],
  },
);
export type UnlockRequest = Static<typeof UnlockRequest>;

export const UnlockAnswer = Type.Object({ result: Type.Literal("unlocked"), eventId: Type.String() });
export type UnlockAnswer = Static<typeof UnlockAnswer>;
