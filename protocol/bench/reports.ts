import { createPublicKey, verify as nodeVerify } from "node:crypto";
import { keyPairFromSeed, nodeEd25519 } from "../src/crypto/ed25519.js";
import { deriveReportKey, x25519KeyPairFromSeed } from "../src/reports/key.js";
import { openReport, sealReport } from "../src/reports/report.js";
import { median, opsPerSecond } from "./measure.js";

/**
 * Report verification (docs/reports.md): `openReport` on an event report, i.e. strict decode of the COSE_Mac0, the
 * HMAC-SHA256 check, the payload and event decode and the counter check, with the report key already derived (a cloud
 * derives it once per lock). Beside it, one raw node:crypto Ed25519 verify of the same report bytes with the key
 * imported: what a signature per report would cost at least (docs/design.md section 7). Alternating rounds, medians.
 */
export interface ReportBenchResult {
  reportPerSecond: number;
  rawEd25519PerSecond: number;
  usPerReport: number;
  usPerEd25519: number;
  /** Ed25519 time over report time: how many reports verify in the time of one signature. */
  speedup: number;
  rounds: number;
  reportBytes: number;
}

export function benchReports(options: { rounds?: number; roundMs?: number } = {}): ReportBenchResult {
  const rounds = options.rounds ?? 21;
  const roundMs = options.roundMs ?? 100;
  const lock = x25519KeyPairFromSeed(new Uint8Array(32).fill(4));
  const cloud = x25519KeyPairFromSeed(new Uint8Array(32).fill(5));
  const cloudKeyId = new Uint8Array([9, 8, 7, 6]);
  const lockId = "lock-1";
  const key = deriveReportKey({ lockPrivate: lock.privateKey, peerPublic: cloud.publicKey, lockId, cloudKeyId });
  const cloudKey = deriveReportKey({ cloudPrivate: cloud.privateKey, peerPublic: lock.publicKey, lockId, cloudKeyId });
  const report = sealReport({
    kind: "event",
    event: {
      id: new Uint8Array(16).fill(1),
      lock: lockId,
      seq: 1234,
      ts: 1_800_000_000,
      type: "unlocked",
      key: new Uint8Array(16).fill(2),
    },
    key,
    cloudKeyId,
    ctr: 5678,
  });
  const keys = () => cloudKey;
  const full = () => {
    if (!openReport(report, { lockId, keys, highestCounter: 5677 }).ok) throw new Error("report verify failed");
  };

  const signer = keyPairFromSeed(new Uint8Array(32).fill(6));
  const signature = nodeEd25519.sign(report, signer.secretKey);
  const spki = Buffer.concat([Buffer.from("302a300506032b6570032100", "hex"), signer.publicKey]);
  const keyObject = createPublicKey({ key: spki, format: "der", type: "spki" });
  const raw = () => {
    if (!nodeVerify(null, report, keyObject, signature)) throw new Error("raw verify failed");
  };

  opsPerSecond(raw, roundMs / 2);
  opsPerSecond(full, roundMs / 2);
  const reports: number[] = [];
  const raws: number[] = [];
  const speedups: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const a = opsPerSecond(raw, roundMs);
    const b = opsPerSecond(full, roundMs);
    raws.push(a);
    reports.push(b);
    speedups.push(b / a);
  }
  const reportPerSecond = median(reports);
  const rawEd25519PerSecond = median(raws);
  return {
    reportPerSecond,
    rawEd25519PerSecond,
    usPerReport: 1e6 / reportPerSecond,
    usPerEd25519: 1e6 / rawEd25519PerSecond,
    speedup: median(speedups),
    rounds,
    reportBytes: report.length,
  };
}
