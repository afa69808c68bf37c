import type { SimLock } from "@latchkey/lock-sim";
import { fromHex, toHex, verifyLockState } from "@latchkey/protocol";
import { pollUntil } from "@latchkey/runtime";
import type { Key } from "../client/index.js";
import type { Output } from "./output.js";
import { Progress, StepFailed } from "./progress.js";
import type { RunningStack } from "./stack.js";
import { WebhookReceiver } from "./webhook-receiver.js";

/** Someone else than the stack's phone: the second key of the batch, and the phone that carries the revocation. */
const OTHER_PERSON = "+4790000002";
const WAIT = { timeoutMs: 30_000, intervalMs: 100 };

/**
 * The scripted scenario of `npm start -- --demo`, all through public interfaces: the Integrator API for claims, keys,
 * webhooks, events, battery and remote actions; the app API for the phones' prefetch; the virtual BLE radio for the
 * unlocks (no network on the phone's side). A revocation reaches a lock cut off from its bridge in a second phone's
 * pocket (docs/design.md section 7 "Couriers"). Answers the verdict; the steps print as they run.
 */
export async function runDemo(stack: RunningStack, out: Output): Promise<boolean> {
  const { client, summary, phone, ble } = stack;
  const lh = summary.lockHolderId;
  const [lockA, lockB = lockA] = stack.fleet.locks as [SimLock, SimLock?];
  const progress = new Progress(out);
  const receiver = new WebhookReceiver();
  let webhookId: string | undefined;
  out.raw(`\n${out.style("Demo", "bold")}: a key's life, from the Integrator API to the door and back\n`);

  try {
    await progress.step(
      "the site is ready",
      async () => {
        if (lockA.battery.state !== "ok") {
          // The last demo left this lock's battery low: new cells first.
          lockA.replaceBattery(100);
          await pollUntil(
            "the cloud to show the new battery",
            async () => (await client.getLock(lh, lockA.id)).battery?.state === "ok",
            WAIT,
          );
        }
        const holder = await client.getLockHolder(lh);
        const vc = await client.getVendorConnection(lh, summary.vendorConnectionId);
        const locks = (await client.listLocks(lh)).locks;
        if (vc.state !== "connected") throw new Error(`vendor connection is ${vc.state}`);
        const online = locks.filter((l) => l.online).length;
        if (online < summary.locks.length) throw new Error(`${online} of ${summary.locks.length} locks online`);
        return { holder, online };
      },
      ({ holder, online }) =>
        `lock holder "${holder.name}" (${holder.id}), vendor connection connected, ${online} locks online`,
    );

    await progress.step(
      "the locks are claimed with their setup codes",
      async () => {
        // The stack posted each lock's setup code at start (scripts/src/stack/claims.ts); the cloud must agree.
        const locks = (await client.listLocks(lh)).locks;
        const unclaimed = summary.locks.filter((id) => !locks.some((l) => l.id === id && l.claimed));
        if (unclaimed.length > 0) throw new Error(`not claimed in the cloud: ${unclaimed.join(", ")}`);
        if (stack.claims.length !== summary.locks.length)
          throw new Error(`${stack.claims.length} claims for ${summary.locks.length} locks`);
        return summary.locks.map((id) => ({ id, v: locks.find((l) => l.id === id)!.stateV }));
      },
      (claimed) =>
        `POST …/locks/claims → claimed: ${claimed.map((c) => `${c.id} (${c.v === null ? "no signed state yet" : `state v ${c.v}`})`).join(", ")}`,
    );

    await progress.step(
      "webhook receiver registered",
      async () => {
        const url = await receiver.listen();
        const hook = await client.createWebhook(lh, url);
        webhookId = hook.id;
        receiver.useSecret(hook.secret);
        return url;
      },
      (url) => `POST …/webhooks → deliveries to ${url}, checked with the whsec_ secret`,
    );

    const key = await progress.step(
      `key for the phone on ${lockA.id}`,
      () => client.createKey(lh, lockA.id, { userId: phone.number, metadata: { demo: true, room: "101" } }),
      (k: Key) => `POST …/locks/${lockA.id}/keys → ${k.id} (${k.state}, open-ended, metadata kept)`,
    );

    const batchKeys = await progress.step(
      "keys by batch",
      async () => {
        const jobId = await client.createKeysBatch(lh, [
          { lockId: lockB.id, userId: phone.number, durationMinutes: 120 },
          { lockId: lockA.id, userId: OTHER_PERSON, durationMinutes: 60 },
        ]);
        const job = await client.waitForJob(jobId, WAIT);
        if (job.status !== "succeeded" || job.results.some((r) => r.error || !r.keyId))
          throw new Error(`job ${jobId} ended ${job.status}: ${JSON.stringify(job.results)}`);
        return { jobId, keyIds: job.results.map((r) => r.keyId!) };
      },
      ({ jobId, keyIds }) =>
        `POST …/keys/batch → job ${jobId} succeeded: ${keyIds.length} keys (one on ${lockB.id} for 120 minutes)`,
    );

    const held = await progress.step(
      "the phone prefetches its keys",
      async () => {
        const keys = await phone.prefetch(summary.apiUrl, stack.codes);
        const mine = keys.find((k) => k.keyId === key.id);
        if (!mine) throw new Error(`the prefetch did not carry ${key.id}`);
        if (!keys.some((k) => k.keyId === batchKeys.keyIds[0]))
          throw new Error("the prefetch did not carry the batch key");
        // The phone picks the longest-lasting key for a lock: it must be the demo's for the revocation step to mean anything.
        if (phone.phone.keyFor(lockA.id).keyId !== key.id)
          throw new Error(`the phone holds a longer key for ${lockA.id} than the demo's: revoke it and run again`);
        return { count: keys.length, cti: toHex(mine.claims.cti) };
      },
      ({ count }) => `GET /app/v1/keys → ${count} signed tokens bound to the phone's device key`,
    );

    await progress.step(
      "the phone carries the signed state of its locks",
      async () => {
        const authority = fromHex((await client.getAuthority(lh)).publicKey);
        const states = [...new Set([lockA.id, lockB.id])].map((id) => {
          const carried = phone.phone.states.find((st) => st.lockId === id);
          if (!carried) throw new Error(`the prefetch carried no signed state of ${id}`);
          // Checked here as the lock will check it once pinned (docs/trust.md): signed by the holder's authority.
          const verdict = verifyLockState(carried.state, { lockId: id, authority });
          if (!verdict.ok) throw new Error(`the state of ${id} does not verify: ${verdict.code} ${verdict.message}`);
          if (verdict.state.v !== carried.v)
            throw new Error(`the state of ${id} says v ${verdict.state.v}, not ${carried.v}`);
          return { id, v: carried.v };
        });
        return states;
      },
      (states) =>
        `GET /app/v1/keys → states: ${states.map((st) => `${st.id} v ${st.v}`).join(", ")} (signed by the lock holder's authority)`,
    );

    await progress.step(
      `offline: the phone opens the doors over ${ble.transport === "virtual" ? "the virtual BLE radio" : "BLE (noble and bleno's own stacks over emulated HCI for the first lock)"}`,
      async () => {
        for (const lock of new Set([lockA, lockB])) {
          const result = await phone.unlock(lock.id, ble.via(lock.id));
          if (!result.ok) throw new Error(`${lock.id} refused: ${result.code} ${result.message ?? ""}`);
        }
      },
      () =>
        `${new Set([lockA.id, lockB.id]).size === 2 ? `${lockA.id} and ${lockB.id}` : lockA.id} verified the tokens themselves and unlocked`,
    );

    const event = await progress.step(
      "the event reaches the cloud",
      () =>
        client.waitForEvent(
          lh,
          "the unlock in the lock holder's events",
          (e) => e.action === "unlocked" && e.keyId === key.id,
          WAIT,
        ),
      (e) =>
        `GET …/events → ${e.action} ${e.lockId} by ${e.userId} (the lock's sealed report → MQTT → bridge outbox → ` +
        "POST /bridge/v1/reports, verified by the cloud)",
    );

    await progress.step(
      "the webhook receiver gets it, signed",
      () =>
        receiver.waitFor(
          "the key event at the webhook receiver",
          (d) => d.type === "key_event.created" && d.data.id === event.id,
          WAIT,
        ),
      (d) => `${d.type} ${String(d.data.action)} (webhook-id ${d.id}, Standard Webhooks signature valid)`,
    );

    await progress.step(
      `battery of ${lockA.id} drops`,
      async () => {
        lockA.replaceBattery(15);
        return pollUntil(
          "the low battery in the cloud",
          async () => {
            const lock = await client.getLock(lh, lockA.id);
            return lock.battery?.state === "low" && lock.battery.level === 15 ? lock.battery : null;
          },
          WAIT,
        );
      },
      (b) => `GET …/locks/${lockA.id} → battery ${b.level} % (${b.state})`,
    );

    await progress.step(
      `remote unlock of ${lockA.id} through the Integrator API`,
      async () => {
        const from = lockA.events.length;
        const created = await client.createAction(lh, lockA.id, "unlock");
        const action = await client.waitForAction(lh, lockA.id, created.id, WAIT);
        if (action.status !== "succeeded")
          throw new Error(`action ${action.id} ended ${action.status}: ${JSON.stringify(action.error ?? {})}`);
        // The cloud calls it done only on the lock's own report of an event bound to the signed command.
        const done = lockA.events.slice(from).find((e) => e.type === "unlocked" && e.cmd !== undefined);
        if (!done || toHex(done.id) !== action.eventId)
          throw new Error(`the cloud's event ${action.eventId} is not ${lockA.id}'s unlock for the command`);
        return action;
      },
      (a) =>
        `POST …/locks/${lockA.id}/actions {action: unlock} → ${a.id} ${a.status} (the bridge brought the lock's ` +
        `nonce, the cloud signed the command, the lock's sealed report of its unlocked event proved it)`,
    );

    const cutOff = await progress.step(
      `the bridge is cut off from ${lockA.id}`,
      async () => {
        stack.pauseBridge();
        return { v: lockA.stateV };
      },
      ({ v }) =>
        `bridge process frozen (SIGSTOP): nothing from the cloud reaches the locks now; ${lockA.id} runs state v ${v}`,
    );

    await progress.step(
      "the key is revoked while the lock is cut off",
      async () => {
        const revoked = await client.revokeKey(lh, key.id);
        if (revoked.state !== "revoked") throw new Error(`the key is ${revoked.state}`);
        if (lockA.revoked.includes(held.cti) || lockA.stateV !== cutOff.v)
          throw new Error(`${lockA.id} got the revocation with the bridge frozen`);
      },
      () =>
        `PUT …/keys/${key.id} {state: revoked} → revoked in the cloud; ${lockA.id} still runs v ${cutOff.v} (no ` +
        "bridge carries it a newer state)",
    );

    const carried = await progress.step(
      "a second phone carries the revocation to the door",
      async () => {
        const other = await stack.otherPhone(OTHER_PERSON);
        await other.prefetch(summary.apiUrl, stack.codes);
        const state = other.phone.states.find((st) => st.lockId === lockA.id);
        if (!state || state.v <= cutOff.v)
          throw new Error(`${OTHER_PERSON}'s prefetch carried no newer state of ${lockA.id}`);
        const result = await other.unlock(lockA.id, ble.via(lockA.id));
        if (!result.ok) throw new Error(`${lockA.id} refused ${OTHER_PERSON}: ${result.code} ${result.message ?? ""}`);
        if (!result.delivered?.ok || result.delivered.v !== state.v)
          throw new Error(
            `the phone did not hand ${lockA.id} the state v ${state.v}: ${JSON.stringify(result.delivered)}`,
          );
        if (!lockA.revoked.includes(held.cti)) throw new Error(`${lockA.id} does not list the revoked key`);
        return { v: state.v };
      },
      ({ v }) =>
        `${OTHER_PERSON} prefetched (GET /app/v1/keys: its token and ${lockA.id}'s state v ${v}), opened ${lockA.id} over ` +
        `BLE and handed it the newer state first: the lock now runs v ${v}, with the key revoked`,
    );

    await progress.step(
      "the revoked key is denied",
      async () => {
        const result = await phone.unlock(lockA.id, ble.via(lockA.id));
        if (result.ok || result.code !== "revoked")
          throw new Error(`expected denied/revoked, got ${JSON.stringify(result)}`);
        return result;
      },
      () =>
        `the first phone still held the token; ${lockA.id} said revoked (state v ${carried.v}, carried by a phone: no ` +
        `bridge, no network)`,
    );

    await progress.step(
      "the bridge is back: the denial reaches the cloud",
      async () => {
        stack.resumeBridge();
        return client.waitForEvent(
          lh,
          "the denied attempt in the lock holder's events",
          (e) => e.action === "denied" && e.keyId === key.id && e.code === "revoked",
          WAIT,
        );
      },
      (e) => `bridge resumed (SIGCONT); GET …/events → ${e.action} (${e.code}) from the lock's sealed report`,
    );
  } catch (e) {
    if (!(e instanceof StepFailed)) throw e;
  } finally {
    stack.resumeBridge();
    if (webhookId) await client.deleteWebhook(lh, webhookId).catch(() => {});
    await receiver.close();
    if (lockA.battery.state !== "ok") lockA.replaceBattery(100);
  }
  out.raw(`\n${progress.verdict()}\n`);
  return progress.passed;
}
