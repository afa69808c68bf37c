import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { deriveReportKey, keyPairFromSeed, sealReport, x25519KeyPairFromSeed } from "@latchkey/protocol";

export const SITE_SECRET = "site-secret-for-tests-0123456789";

export function tempDir(): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), "latchkey-bridge-test-"));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** A pino destination that keeps the parsed log lines (tests assert on them and check no secret leaks). */
export class LogCapture extends Writable {
  readonly lines: Array<Record<string, unknown>> = [];
  readonly raw: string[] = [];
  override _write(chunk: Buffer, _enc: string, done: () => void): void {
    for (const line of chunk.toString("utf8").split("\n")) {
      if (!line) continue;
      this.raw.push(line);
      try {
        this.lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // not JSON: kept in raw only
      }
    }
    done();
  }
  has(msg: string): boolean {
    return this.lines.some((l) => l.msg === msg);
  }
}

export { seededRandom } from "@latchkey/protocol/testing/seeded-random";

/**
 * Trust material of the bridge tests' stand-in cloud (TestCloud) and test locks (MqttLock), made with protocol only:
 * the lock holder's authority (signs states, time answers, remote commands) and the cloud's X25519 report key with its
 * id (docs/reports.md). Each test lock derives its report key from its own X25519 key and the cloud's public key, as
 * a real lock does from the key its signed state names; the bridge holds none of it.
 */
export const AUTHORITY = keyPairFromSeed(new Uint8Array(32).fill(7));
export const CLOUD_REPORT_KEY = {
  id: new Uint8Array([0xa1, 0xa2, 0xa3, 0xa4]),
  ...x25519KeyPairFromSeed(new Uint8Array(32).fill(0x33)),
};

/** A test lock's public keys and X25519 private key, from its id (deterministic). */
export function lockKeyMaterial(lockId: string): {
  identity: Uint8Array;
  x25519: Uint8Array;
  x25519Private: Uint8Array;
} {
  const seed = (label: string) => new Uint8Array(createHash("sha256").update(`${label}\0${lockId}`).digest());
  const agreement = x25519KeyPairFromSeed(seed("x25519"));
  return {
    identity: keyPairFromSeed(seed("identity")).publicKey,
    x25519: agreement.publicKey,
    x25519Private: agreement.privateKey,
  };
}

/** The report key a test lock seals with (what the cloud derives from its private key and the lock's public one). */
export function lockReportKey(lockId: string): Uint8Array {
  return deriveReportKey({
    lockId,
    cloudKeyId: CLOUD_REPORT_KEY.id,
    lockPrivate: lockKeyMaterial(lockId).x25519Private,
    peerPublic: CLOUD_REPORT_KEY.publicKey,
  });
}

/** A sealed event report of `lockId` with seq and counter `n`, as a test lock makes it. */
export function sealedEvent(lockId: string, n: number): Uint8Array {
  const id = new Uint8Array(16);
  new DataView(id.buffer).setUint32(0, n);
  return sealReport({
    kind: "event",
    event: { id, lock: lockId, seq: n, ts: 1_800_000_000 + n, type: "unlocked" },
    key: lockReportKey(lockId),
    cloudKeyId: CLOUD_REPORT_KEY.id,
    ctr: n,
  });
}
