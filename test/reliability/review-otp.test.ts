import { createHash } from "node:crypto";
import { chmodSync, copyFileSync, existsSync, statSync } from "node:fs";
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { startCloud } from "@latchkey/cloud";
import { ManualClock } from "@latchkey/protocol";
import { readRequestBody } from "@latchkey/runtime";
import { bins, type CloudProcess, childEnv, ManagedChild, startCloudProcess } from "@latchkey/scripts";
import Database from "better-sqlite3";
import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import { ReliabilityFile } from "../src/reliability/per-file.js";

/**
 * Issue 12 (the outside review), findings 2 (the cloud's files), 3 (the one-time-code sender of `latchkey-cloud
 * serve`) and 4 (guessing one-time codes online), through a real cloud process where the behaviour is the process's
 * (file modes, the sender it will start with, Retry-After on the wire), and an in-process cloud on a manual clock where
 * days must pass (daily limits and lockouts).
 */
const file = new ReliabilityFile("review-otp");
const { tally, logs, secrets } = file;

const DEVICE_KEY = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

/** The cloud's environment: none of the caller's cloud settings, the development sender asked for by name. */
function cloudEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { ...childEnv(process.env), LATCHKEY_DEV_OTP_LOG: "1", ...extra };
}

async function serve(dataDir: string, env = cloudEnv()): Promise<CloudProcess> {
  const cloud = await startCloudProcess({ bin: bins().cloud, dataDir, port: 0, env });
  file.resources.defer("stop the cloud", () => cloud.child.stop());
  logs.attach("cloud", cloud.child);
  return cloud;
}

/** `latchkey-cloud serve` expected not to start: its exit code and what it printed. */
async function refusedServe(dataDir: string, env: NodeJS.ProcessEnv): Promise<{ code: number | null; text: string }> {
  const child = new ManagedChild({
    name: "cloud",
    script: bins().cloud,
    args: ["serve", "--port", "0", "--data", dataDir],
    env,
  });
  file.resources.defer("stop the cloud", () => child.stop());
  const started = child.waitForLog("latchkey cloud listening").then(() => "listening" as const);
  const exited = child.waitForExit().then((e) => e.code);
  const outcome = await Promise.race([started, exited]);
  logs.attach("cloud", child);
  return { code: outcome === "listening" ? null : outcome, text: child.lines.map((l) => l.text).join("\n") };
}

interface Answer {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: answers are read field by field in tests
  body: any;
  retryAfter: string | null;
}

async function post(url: string, body: unknown): Promise<Answer> {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined, retryAfter: res.headers.get("retry-after") };
}

/** Asks for a code for `phoneNumber`; answers the verification id (and the code from the log, if the log has one). */
async function requestCode(baseUrl: string, phoneNumber: string, readCode = true) {
  const before = logs.records("one-time code").length;
  const started = await post(`${baseUrl}/app/v1/verification`, { phoneNumber });
  expect(started.status, JSON.stringify(started.body)).toBe(202);
  let code: string | undefined;
  if (readCode) {
    for (let i = 0; i < 200 && code === undefined; i++) {
      const record = logs
        .records("one-time code")
        .slice(before)
        .find((r) => r.phoneNumber === phoneNumber);
      if (record) code = String(record.code);
      else await new Promise((r) => setTimeout(r, 10));
    }
    expect(code, "the code in the cloud's log").toBeDefined();
  }
  return { verificationId: String(started.body.verificationId), code };
}

const modeOf = (path: string) => statSync(path).mode & 0o777;

/** A cloud of the test's own on a manual clock, without workers, closed after the test. */
async function cloudOnManualClock() {
  const clock = new ManualClock(1_800_000_000_000);
  const cloud = await startCloud({
    dataDir: join(file.resources.tempDir("latchkey-review-otp-"), "cloud"),
    port: 0,
    clock,
    logStream: logs.stream("cloud"),
    workers: false,
  });
  file.resources.defer("close the cloud", () => cloud.close());
  return { clock, cloud };
}

describe("review 12.2: the cloud's files", () => {
  it("a standalone cloud makes its data directory 0700 and every database file and the master key 0600", async () => {
    const dataDir = join(file.resources.tempDir("latchkey-review-otp-"), "cloud");
    const cloud = await serve(dataDir);
    // A write, so the WAL and its index are in use while the files are looked at.
    await requestCode(cloud.url, "+4791234501");
    expect(modeOf(dataDir).toString(8)).toBe("700");
    for (const name of ["cloud.sqlite", "cloud.sqlite-wal", "cloud.sqlite-shm", "master.key"]) {
      tally.input();
      expect(existsSync(join(dataDir, name)), name).toBe(true);
      expect(modeOf(join(dataDir, name)).toString(8), name).toBe("600");
    }
    tally.case("review 12.2: the cloud's data directory and database files are not readable by other local users");
  });

  it("a wider mode found on start is narrowed, and the log says which file it was", async () => {
    const dataDir = join(file.resources.tempDir("latchkey-review-otp-"), "cloud");
    const first = await serve(dataDir);
    await requestCode(first.url, "+4791234502");
    await first.child.stop();
    // As an older cloud left them.
    chmodSync(dataDir, 0o755);
    for (const name of ["cloud.sqlite", "master.key"]) chmodSync(join(dataDir, name), 0o644);
    const again = await serve(dataDir);
    expect(modeOf(dataDir).toString(8)).toBe("700");
    for (const name of ["cloud.sqlite", "master.key"])
      expect(modeOf(join(dataDir, name)).toString(8), name).toBe("600");
    const warnings = again.child.lines
      .map((l) => l.record)
      .filter((r) => typeof r?.msg === "string" && r.msg.startsWith("narrowed the mode of"));
    expect(warnings.map((r) => [r!.path, r!.was, r!.now]).sort()).toEqual(
      [
        [dataDir, "0755", "0700"],
        [join(dataDir, "cloud.sqlite"), "0644", "0600"],
        [join(dataDir, "master.key"), "0644", "0600"],
      ].sort(),
    );
    expect(warnings.every((r) => r!.level === 40)).toBe(true);
    tally.refuse(3);
    tally.case(
      "review 12.2: a data directory or database file left wider than 0700/0600 is narrowed on start, and logged",
    );
  });

  it("from a copy of the database, no one-time code can be found by trying all 10^6 of them", async () => {
    const dir = file.resources.tempDir("latchkey-review-otp-");
    const dataDir = join(dir, "cloud");
    const cloud = await serve(dataDir);
    const phoneNumber = "+4791234503";
    const { verificationId, code } = await requestCode(cloud.url, phoneNumber);
    await cloud.child.stop();
    // The attacker's copy: the database file only (the master key is not in it, nor in any row in the clear).
    const copy = join(dir, "stolen.sqlite");
    copyFileSync(join(dataDir, "cloud.sqlite"), copy);
    const db = new Database(copy, { readonly: true });
    let stored: string;
    let meta: Array<{ name: string; value: string }>;
    try {
      stored = (
        db.prepare("SELECT code_hash FROM verifications WHERE id = ?").get(verificationId) as {
          code_hash: string;
        }
      ).code_hash;
      meta = db.prepare("SELECT name, value FROM cloud_meta").all() as Array<{ name: string; value: string }>;
    } finally {
      db.close();
    }
    // What the review did: every 6-digit code hashed the way codes used to be stored.
    const started = process.hrtime.bigint();
    const found: string[] = [];
    for (let n = 0; n < 1_000_000; n++) {
      const guess = n.toString().padStart(6, "0");
      if (createHash("sha256").update(`${verificationId}:${guess}`).digest("base64url") === stored) found.push(guess);
    }
    const ms = Number((process.hrtime.bigint() - started) / 1_000_000n);
    tally.input(1_000_000);
    tally.note("offline guesses at a copied code (all 10^6)", 1_000_000);
    tally.note("offline brute force, ms", ms);
    expect(found, "a code recovered from the copy").toEqual([]);
    expect(stored).not.toBe(createHash("sha256").update(`${verificationId}:${code}`).digest("base64url"));
    // The MAC key is in the copy only sealed with the master key, which is not.
    expect(meta.map((m) => m.name).sort()).toEqual(["master-key-check", "otp-hmac-key"]);
    for (const m of meta) expect(m.value).toMatch(/^v1\.[\w-]+\.[\w-]+\.[\w-]+$/);
    tally.refuse();
    tally.case(
      "review 12.2: a copy of the cloud database gives away no one-time code (HMAC under a sealed server key)",
    );
  });
});

describe("review 12.3: where one-time codes go", () => {
  it("serve refuses to start without a sender, naming the flags; the log sender only when asked for by name", async () => {
    const dir = file.resources.tempDir("latchkey-review-otp-");
    const none = await refusedServe(join(dir, "a"), childEnv(process.env));
    expect(none.code).toBe(2);
    expect(none.text).toContain("--dev-otp-log");
    expect(none.text).toContain("--otp-webhook");
    tally.refuse();
    // Asked for: it starts, and says in its log that codes go there.
    const cloud = await serve(join(dir, "b"));
    expect(
      cloud.child.lines.some((l) => l.record?.level === 40 && l.record.otpSender === "log"),
      "a warning that codes go to the log",
    ).toBe(true);
    tally.case(
      "review 12.3: latchkey-cloud serve will not write one-time codes to its log unless --dev-otp-log is given",
    );
  });

  it("the webhook sender POSTs the code signed (Standard Webhooks) and never logs it; a URL into the cloud's own network is refused", async () => {
    const secret = `whsec_${Buffer.from("review-otp webhook secret 0123456789").toString("base64")}`;
    secrets.add("OTP webhook secret", secret);
    const received: Array<{ headers: IncomingHttpHeaders; body: string }> = [];
    const receiver = createServer((req, res) => {
      void readRequestBody(req).then((body) => {
        received.push({ headers: req.headers, body });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r));
    file.resources.defer("close the SMS receiver", () => new Promise((r) => receiver.close(r)));
    const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/sms`;
    const dir = file.resources.tempDir("latchkey-review-otp-");

    // 127.0.0.1 is the cloud's own machine: refused like an integrator's webhook URL unless private targets are allowed.
    const env = { LATCHKEY_OTP_WEBHOOK: url, LATCHKEY_OTP_WEBHOOK_SECRET: secret };
    const refused = await refusedServe(join(dir, "a"), { ...childEnv(process.env), ...env });
    expect(refused.code).toBe(2);
    expect(refused.text).toContain("must not point at the cloud's own network");
    tally.refuse();

    const cloud = await serve(join(dir, "b"), {
      ...childEnv(process.env),
      ...env,
      LATCHKEY_ALLOW_PRIVATE_WEBHOOKS: "1",
    });
    const phoneNumber = "+4791234504";
    const { verificationId } = await requestCode(cloud.url, phoneNumber, false);
    for (let i = 0; i < 500 && received.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(received).toHaveLength(1);
    const delivery = received[0]!;
    const payload = new Webhook(secret).verify(delivery.body, {
      "webhook-id": String(delivery.headers["webhook-id"]),
      "webhook-timestamp": String(delivery.headers["webhook-timestamp"]),
      "webhook-signature": String(delivery.headers["webhook-signature"]),
    }) as { phoneNumber: string; code: string; expiresIn: number };
    expect(payload.phoneNumber).toBe(phoneNumber);
    expect(payload.code).toMatch(/^\d{6}$/);
    expect(payload.expiresIn).toBe(300);
    // A forged delivery (another secret) does not verify.
    tally.input();
    expect(() =>
      new Webhook(`whsec_${Buffer.from("some other secret 0123456789abcdef").toString("base64")}`).verify(
        delivery.body,
        {
          "webhook-id": String(delivery.headers["webhook-id"]),
          "webhook-timestamp": String(delivery.headers["webhook-timestamp"]),
          "webhook-signature": String(delivery.headers["webhook-signature"]),
        },
      ),
    ).toThrow();
    tally.refuse();
    // The code is nowhere in the cloud's log, and it works.
    expect(cloud.child.lines.some((l) => l.text.includes(payload.code))).toBe(false);
    expect(cloud.child.lines.some((l) => l.record?.msg === "one-time code")).toBe(false);
    const confirmed = await post(`${cloud.url}/app/v1/verification/${verificationId}/confirm`, {
      code: payload.code,
      devicePublicKey: DEVICE_KEY,
    });
    expect(confirmed.status).toBe(200);
    secrets.add("app access token", confirmed.body.accessToken);
    tally.case("review 12.3: one-time codes go to a signed, address-checked webhook, not the log");
  });
});

describe("review 12.4: guessing one-time codes online", () => {
  it("asking for a code again (as anyone may) leaves the code already sent valid", async () => {
    const cloud = await serve(join(file.resources.tempDir("latchkey-review-otp-"), "cloud"));
    const phoneNumber = "+4791234505";
    const real = await requestCode(cloud.url, phoneNumber);
    // Someone else asks for codes for the same number, up to the limit.
    for (let i = 0; i < 4; i++) await requestCode(cloud.url, phoneNumber, false);
    tally.input(4);
    const confirmed = await post(`${cloud.url}/app/v1/verification/${real.verificationId}/confirm`, {
      code: real.code,
      devicePublicKey: DEVICE_KEY,
    });
    expect(confirmed.status, JSON.stringify(confirmed.body)).toBe(200);
    secrets.add("app access token", confirmed.body.accessToken);
    tally.case("review 12.4: a request for a code does not void the holder's pending code");
  });

  it("per number: 10 codes a day, then lockouts of 1, 2, 4 … days, each a 429 with Retry-After; a verified number starts afresh", async () => {
    const { clock, cloud } = await cloudOnManualClock();
    const phoneNumber = "+4791234506";
    const ask = () => post(`${cloud.url}/app/v1/verification`, { phoneNumber });
    /** A day's worth: 10 codes in two bursts of 5 (the 10-minute limit), then the refusal that locks the number. */
    const aDay = async () => {
      for (let burst = 0; burst < 2; burst++) {
        for (let i = 0; i < 5; i++) expect((await ask()).status).toBe(202);
        clock.advance(601_000);
      }
      tally.input(10);
      return ask();
    };
    const first = await aDay();
    expect(first.status).toBe(429);
    expect(first.body.error).toBe("too_many_requests");
    expect(Number(first.retryAfter)).toBe(86_400);
    clock.advance(3_600_000);
    const during = await ask();
    expect(during.status).toBe(429);
    expect(Number(during.retryAfter)).toBe(86_400 - 3_600);
    clock.advance((86_400 - 3_600) * 1000);
    const second = await aDay();
    expect(second.status).toBe(429);
    expect(Number(second.retryAfter), "the second lockout is twice as long").toBe(2 * 86_400);
    clock.advance(2 * 86_400 * 1000);
    const third = await aDay();
    expect(Number(third.retryAfter)).toBe(4 * 86_400);
    tally.refuse(3);
    // Once the lockout is over the real phone verifies, and the number starts afresh.
    clock.advance(4 * 86_400 * 1000);
    const fresh = await ask();
    expect(fresh.status).toBe(202);
    const code = String(
      logs
        .records("one-time code")
        .filter((r) => r.phoneNumber === phoneNumber)
        .at(-1)!.code,
    );
    const ok = await post(`${cloud.url}/app/v1/verification/${fresh.body.verificationId}/confirm`, {
      code,
      devicePublicKey: DEVICE_KEY,
    });
    expect(ok.status).toBe(200);
    secrets.add("app access token", ok.body.accessToken);
    clock.advance(86_400 * 1000);
    const afresh = await aDay();
    expect(Number(afresh.retryAfter), "after a verification the next lockout is the first again").toBe(86_400);
    tally.case("review 12.4: a phone number gets at most 10 codes a day, then growing lockouts (429, Retry-After)");
  });

  it("per client address: 20 codes and 30 wrong codes an hour, each refusal a 429 with Retry-After", async () => {
    const { clock, cloud } = await cloudOnManualClock();
    // 20 numbers from one address (this test's 127.0.0.1), one code each.
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) {
      const r = await post(`${cloud.url}/app/v1/verification`, {
        phoneNumber: `+47912340${String(i).padStart(2, "0")}`,
      });
      expect(r.status).toBe(202);
      ids.push(r.body.verificationId);
      // (10 s apart: the codes, which live 5 minutes, are still open for the guesses below)
      clock.advance(10_000);
    }
    const refused = await post(`${cloud.url}/app/v1/verification`, { phoneNumber: "+4791234099" });
    expect(refused.status).toBe(429);
    expect(Number(refused.retryAfter)).toBe(3_600 - 20 * 10);
    tally.input(21);
    tally.refuse();
    // Wrong codes, 5 per verification (its own limit), across verifications: the 31st guess is refused, even a right one.
    let guesses = 0;
    for (const id of ids.slice(0, 6)) {
      for (let i = 0; i < 5; i++) {
        const r = await post(`${cloud.url}/app/v1/verification/${id}/confirm`, {
          code: "000000",
          devicePublicKey: DEVICE_KEY,
        });
        // (one code in a million is 000000)
        expect([400, 200]).toContain(r.status);
        guesses++;
      }
    }
    const blocked = await post(`${cloud.url}/app/v1/verification/${ids[6]}/confirm`, {
      code: "000000",
      devicePublicKey: DEVICE_KEY,
    });
    expect(guesses).toBe(30);
    expect(blocked.status).toBe(429);
    expect(blocked.body.error).toBe("too_many_requests");
    expect(Number(blocked.retryAfter)).toBeGreaterThan(0);
    tally.input(31);
    tally.refuse();
    tally.case("review 12.4: one client address gets at most 20 codes and 30 wrong codes an hour (429, Retry-After)");
  });

  it("POST /auth/v1/token: 60 a minute per client id, 300 per address, then 429 with Retry-After (@fastify/rate-limit)", async () => {
    const cloud = await serve(join(file.resources.tempDir("latchkey-review-otp-"), "cloud"));
    const token = (clientId: string) =>
      post(`${cloud.url}/auth/v1/token`, {
        grant_type: "client_credentials",
        client_id: clientId,
        client_secret: "not the secret",
        scope: "integrator.admin",
      });
    const statuses: number[] = [];
    for (let i = 0; i < 60; i++) statuses.push((await token("cl_guessed")).status);
    expect(new Set(statuses)).toEqual(new Set([401]));
    const limited = await token("cl_guessed");
    expect(limited.status).toBe(429);
    expect(limited.body.error).toBe("too_many_requests");
    expect(Number(limited.retryAfter)).toBeGreaterThan(0);
    expect(Number(limited.retryAfter)).toBeLessThanOrEqual(60);
    tally.input(61);
    tally.refuse();
    // Other client ids from the same address, up to the address's 300 a minute (61 made so far).
    let last = 0;
    for (let i = 0; i < 240 && last !== 429; i++) last = (await token(`cl_other_${i}`)).status;
    expect(last).toBe(429);
    tally.input(240);
    tally.refuse();
    tally.case("review 12.4: token requests are limited per client id and per address (429, Retry-After)");
  });
});
