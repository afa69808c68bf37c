import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { type Static, Type } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";

/**
 * What the stack keeps in `<data>/stack.json` (mode 0600: it holds secrets) so a second `npm start` reuses the same
 * integrator, lock holder, bridge, vendor connection, site secret, locks and phone. Provisioning saves after each
 * step, so a first start that was interrupted continues where it stopped.
 */
const Secret = Type.String({ minLength: 8 });
const Id = Type.String({ minLength: 1, maxLength: 128 });

const Phone = Type.Object({
  number: Type.String({ pattern: "^\\+[1-9][0-9]{6,14}$" }),
  /** 32 bytes, hex: the seed of the phone's Ed25519 device key. */
  deviceSeed: Type.String({ pattern: "^[0-9a-f]{64}$" }),
  accessToken: Type.Optional(Type.String({ minLength: 1 })),
});

export const StackStateSchema = Type.Object(
  {
    version: Type.Literal(1),
    integrator: Type.Optional(Type.Object({ integratorId: Id, clientId: Id, clientSecret: Secret })),
    lockHolderId: Type.Optional(Id),
    bridge: Type.Optional(Type.Object({ bridgeId: Id, secret: Secret })),
    vendorConnectionId: Type.Optional(Id),
    /** The bridge's mqtt.siteSecret: every lock's broker password derives from it. */
    siteSecret: Type.String({ minLength: 16 }),
    /** The sim vendor account the bridge is configured with and the vendor connection names. */
    vendor: Type.Object({ username: Id, password: Secret }),
    locks: Type.Array(Type.String({ pattern: "^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$" })),
    phone: Phone,
    /** A second person's phone, registered when the demo first needs it (it carries a revocation to a lock). */
    otherPhone: Type.Optional(Phone),
  },
  { additionalProperties: false },
);

export type StackState = Static<typeof StackStateSchema>;

export class StateFileError extends Error {
  constructor(
    readonly file: string,
    problem: string,
  ) {
    super(`${file}: ${problem} (fix it, or move the data directory away to start afresh)`);
    this.name = "StateFileError";
  }
}

export const stateFile = (dataDir: string): string => join(dataDir, "stack.json");

/** The second person's phone: a number of its own, a new device key. */
export function newPhone(phoneNumber: string): StackState["phone"] {
  return { number: phoneNumber, deviceSeed: randomBytes(32).toString("hex") };
}

/** A fresh state: new secrets, the default phone number. */
export function newState(phoneNumber = "+4791234567"): StackState {
  return {
    version: 1,
    siteSecret: randomBytes(32).toString("base64url"),
    vendor: { username: "demo-site", password: randomBytes(18).toString("base64url") },
    locks: [],
    phone: newPhone(phoneNumber),
  };
}

/** Reads `<data>/stack.json`, or answers null when there is none yet. Throws StateFileError naming the field at fault. */
export function loadState(dataDir: string): StackState | null {
  const file = stateFile(dataDir);
  if (!existsSync(file)) return null;
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, "utf8"));
  } catch (e) {
    throw new StateFileError(file, `not valid JSON (${(e as Error).message})`);
  }
  const first = Value.Errors(StackStateSchema, raw).First();
  if (first) throw new StateFileError(file, `${first.path || "(root)"} ${first.message}`);
  return raw as StackState;
}

/** Writes the state atomically (temp file + rename) with mode 0600. */
export function saveState(dataDir: string, state: StackState): void {
  const file = stateFile(dataDir);
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const temp = `${file}.${process.pid}.tmp`;
  writeFileSync(temp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  chmodSync(temp, 0o600);
  renameSync(temp, file);
}
