import {
  DEFAULT_LEEWAY_SECONDS,
  DEFAULT_TOPIC_PREFIX,
  defaultEd25519,
  deriveLockPassword,
  Topics,
} from "@latchkey/protocol";
import { pino } from "pino";
import type { HardwarePeripheral } from "../ble/bleno-peripheral.js";
import { LockGattServer } from "../ble/lock-gatt.js";
import { advertiseLock } from "../ble/lock-peripheral.js";
import type { AdvertisementHandle } from "../ble/virtual-radio.js";
import { IdentityFlash } from "../flash/identity-flash.js";
import { LockFlash, type LockRecord } from "../flash/lock-flash.js";
import { MqttLockLink } from "../mqtt/lock-link.js";
import { systemRandom } from "../random.js";
import { waitForChange } from "../wait.js";
import { Actuator } from "./actuator.js";
import { Battery } from "./battery.js";
import { LockFirmware } from "./firmware.js";
import { bootIdentity } from "./identity.js";
import { type LockOptions, validateLockOptions } from "./options.js";
import { RunningLock, type SimLock } from "./sim-lock.js";
import { TrustEngine } from "./trust-engine.js";

const silent = pino({ level: "silent" });
const systemClock = { now: () => Date.now() };

/** Boots a simulated lock from its flash (provisioning it on first boot) and connects it where told. */
export async function startLock(options: LockOptions): Promise<SimLock> {
  validateLockOptions(options);
  const logger = options.logger ?? silent;
  const clock = options.clock ?? systemClock;
  const random = options.random ?? systemRandom;

  const { flash, record } = LockFlash.open(
    options.dataDir,
    options.lockId,
    (): LockRecord => ({
      nextSeq: 1,
      droppedTotal: 0,
      stampFloorMs: 0,
      battery: Battery.initialRecord(options.battery ?? {}, clock.now()),
      actuator: Actuator.initialRecord(),
    }),
  );
  const cleanup: (() => void | Promise<void>)[] = [() => flash.release()];
  try {
    // Identity first: a partition from before flash format 3 is refused here, before anything else runs on it.
    const identityFlash = new IdentityFlash(flash.database, options.lockId);
    const backend = options.backend ?? defaultEd25519;
    const identity = bootIdentity(identityFlash, { firstBoot: flash.created, random, path: flash.path, backend });
    // The engine's local counter is the lock's oscillator: the base clock at its drift rate (docs/trust.md "Time").
    const rate = 1 + (options.drift?.ppm ?? 0) / 1_000_000;
    const localClock = { now: () => Math.floor(clock.now() * rate) };
    const trust = new TrustEngine({
      identity,
      flash: identityFlash,
      localClock,
      random,
      backend,
      leewaySeconds: options.leewaySeconds ?? DEFAULT_LEEWAY_SECONDS,
    });
    const resendMs = (options.resendSeconds ?? 600) * 1000;
    const battery = new Battery(record.battery, options.battery ?? {}, (b) => flash.saveBattery(b));
    const actuator = new Actuator(record.actuator, (options.relockSeconds ?? 5) * 1000, (a) => flash.saveActuator(a));
    const firmware = new LockFirmware(
      {
        lockId: options.lockId,
        baseClock: clock,
        localClock,
        random,
        ringCapacity: options.ringCapacity ?? 256,
        telemetryIntervalMs: (options.telemetryIntervalSeconds ?? 60) * 1000,
        telemetryJitter: options.telemetryJitter ?? 0,
        eventHistory: options.eventHistory ?? 10_000,
        resendMs,
        logger,
      },
      {
        flash,
        engine: trust,
        identity,
        battery,
        actuator,
        nextSeq: record.nextSeq,
        droppedTotal: record.droppedTotal,
        stampFloorMs: record.stampFloorMs,
      },
    );
    cleanup.unshift(() => firmware.halt());
    firmware.setMaxListeners(0);

    const password =
      options.mqttPassword ??
      (options.siteSecret !== undefined ? deriveLockPassword(options.siteSecret, options.lockId) : undefined);
    let link: MqttLockLink | null = null;
    if (options.mqttUrl !== undefined) {
      const linkOptions: ConstructorParameters<typeof MqttLockLink>[1] = {
        url: options.mqttUrl,
        lockId: options.lockId,
        topics: new Topics(options.topicPrefix ?? DEFAULT_TOPIC_PREFIX),
        localClock,
        resendMs,
        logger,
        // The reconnect spread draws from its own source: the lock's (seeded in tests) keeps its nonces and ids.
        ...options.mqtt,
      };
      if (password !== undefined) linkOptions.password = password;
      const created = new MqttLockLink(firmware, linkOptions);
      link = created;
      firmware.attach(created);
      cleanup.unshift(() => created.kill());
    }

    const gatt = new LockGattServer(firmware, logger);
    let advertisement: AdvertisementHandle | null = null;
    if (options.radio !== undefined) {
      advertisement = advertiseLock(options.radio, gatt);
      const handle = advertisement;
      cleanup.unshift(() => handle.stop());
    }
    let hardware: HardwarePeripheral | null = null;
    if (options.hardwareBle === true) {
      const { startBlenoPeripheral } = await import("../ble/bleno-peripheral.js");
      hardware = await startBlenoPeripheral(gatt);
      const h = hardware;
      cleanup.unshift(() => h.stop());
    }

    firmware.tick();
    const tickMs = options.tickIntervalMs ?? 1000;
    const timer = tickMs > 0 ? setInterval(() => firmware.tick(), tickMs) : null;
    timer?.unref();
    if (timer !== null) cleanup.unshift(() => clearInterval(timer));

    const lock = new RunningLock(firmware, link, flash.path, identity, async (mode) => {
      if (timer !== null) clearInterval(timer);
      advertisement?.stop();
      await hardware?.stop();
      if (link !== null) {
        if (mode === "clean") await link.stop();
        else link.kill();
      }
      firmware.halt();
      flash.release();
    });

    if (link !== null && options.awaitConnection !== false) {
      const connectTimeoutMs = options.mqtt?.connectTimeoutMs ?? 10_000;
      const l = link;
      try {
        await waitForChange(
          firmware,
          "change",
          () => {
            if (l.connected) return true;
            const err = l.error;
            if (err !== null && /refused|not authori[sz]ed|bad user/i.test(err.message)) throw err;
            return undefined;
          },
          `lock ${options.lockId} to connect to ${redact(options.mqttUrl!)}`,
          { timeoutMs: connectTimeoutMs },
        );
      } catch (e) {
        throw new Error(
          `lock ${options.lockId} could not connect to ${redact(options.mqttUrl!)}: ${(e as Error).message}`,
        );
      }
    }
    return lock;
  } catch (e) {
    for (const step of cleanup) await step();
    throw e;
  }
}

/** A URL without its userinfo, for messages. */
function redact(url: string): string {
  try {
    const u = new URL(url);
    u.username = "";
    u.password = "";
    return u.toString();
  } catch {
    return "(invalid url)";
  }
}
