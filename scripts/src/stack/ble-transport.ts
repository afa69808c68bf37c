import { createWriteStream, type WriteStream } from "node:fs";
import { type Noble, VirtualRadio } from "@latchkey/lock-sim";

/** How the stack's phone reaches its locks over BLE (`npm start -- --ble …`). */
export const BLE_TRANSPORTS = ["virtual", "hci-emulated"] as const;
export type BleTransportName = (typeof BLE_TRANSPORTS)[number];

/** What `phone.unlock` is given: the in-process virtual radio, or a noble instance on an (emulated) adapter. */
export type UnlockVia = { radio: VirtualRadio } | { noble: Noble };

export interface StackBle {
  readonly transport: BleTransportName;
  /** Every lock advertises on it; the bridge and the console reach the rest of the locks through it. */
  readonly radio: VirtualRadio;
  /** Locks that also serve BLE through bleno on an emulated controller (bleno is one peripheral per process). */
  readonly blenoLocks: readonly string[];
  via(lockId: string): UnlockVia;
  /** One line for the launcher's output. */
  readonly description: string;
  close(): Promise<void>;
}

/**
 * `virtual`: noble's bindings replaced by lock-sim's virtual radio (fast, the default). `hci-emulated` (issue 18 item
 * 4): the first lock's peripheral is bleno and the phone's central is noble, both unmodified from the HCI packet up,
 * over lock-sim's emulated controllers on one emulated air; the controllers' traffic goes to `hciLogFile` in btmon-like
 * text. It must be opened before anything in this process loads noble or bleno, as a real adapter is chosen then.
 */
export async function openStackBle(
  transport: BleTransportName,
  lockIds: readonly string[],
  hciLogFile: string,
): Promise<StackBle> {
  const radio = new VirtualRadio();
  const first = lockIds[0];
  if (transport === "virtual" || first === undefined)
    return {
      transport,
      radio,
      blenoLocks: [],
      via: () => ({ radio }),
      description: "BLE: the virtual radio (every lock; --ble hci-emulated runs noble and bleno's own stacks)",
      close: async () => {},
    };
  const hci = await import("@latchkey/lock-sim/hci-emulator");
  const log: WriteStream = createWriteStream(hciLogFile, { flags: "w", mode: 0o600 });
  const hciLog = new hci.HciLog((line) => log.write(`${line}\n`), 0);
  const air = new hci.Air({ seed: "latchkey-stack", log: hciLog.sink });
  const lockHci = new hci.EmulatedController(air, { address: "c0:de:00:00:00:01", name: first, log: hciLog.sink });
  const phoneHci = new hci.EmulatedController(air, { address: "c0:de:00:00:00:02", name: "phone", log: hciLog.sink });
  // bleno is loaded the ordinary way by startLock({hardwareBle: true}): this process's hci0 is the lock's controller.
  const uninstall = hci.installEmulatedHci(new hci.EmulatedAdapters([lockHci]));
  const previousDevice = process.env.BLENO_HCI_DEVICE_ID;
  process.env.BLENO_HCI_DEVICE_ID = "0";
  const phoneNoble = hci.loadNoble(phoneHci) as Noble;
  return {
    transport,
    radio,
    blenoLocks: [first],
    via: (lockId) => (lockId === first ? { noble: phoneNoble } : { radio }),
    description: `BLE: ${first} on bleno and the phone on noble over emulated HCI controllers (HCI log: ${hciLogFile}); the other locks on the virtual radio`,
    close: async () => {
      phoneNoble.removeAllListeners();
      uninstall();
      if (previousDevice === undefined) delete process.env.BLENO_HCI_DEVICE_ID;
      else process.env.BLENO_HCI_DEVICE_ID = previousDevice;
      air.close();
      await new Promise<void>((resolve) => log.end(resolve));
    },
  };
}
