import { spawn } from "node:child_process";
import net from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ManualClock } from "@latchkey/protocol";
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from "vitest";
import { connectToLock } from "../src/ble/central.js";
import {
  Air,
  EmulatedAdapters,
  EmulatedController,
  type H4Server,
  HciLog,
  h4HciSocketClass,
  installEmulatedHci,
  loadNoble,
  parseH4Address,
  serveH4,
} from "../src/ble/hci-emulator/index.js";
import { type SimLock, seededRandom, startLock } from "../src/index.js";
import { T0 } from "./helpers/keys.js";
import { TempDirs } from "./helpers/tmp.js";

/**
 * The air reachable from other processes: an H4 server hosts a controller per connection, and noble in another
 * process (or this one) drives it through `h4HciSocketClass`, with no emulator code on its side. The lock is
 * lock-sim's bleno peripheral on a local controller of the same air.
 */
const DIST_INDEX = fileURLToPath(new URL("../dist/src/ble/hci-emulator/index.js", import.meta.url));
const DIST_CENTRAL = fileURLToPath(new URL("../dist/src/ble/central.js", import.meta.url));

describe("H4 over a loopback socket: a host in another process joins the air", () => {
  const log = new HciLog();
  const tmp = new TempDirs();
  const air = new Air({ seed: "h4", log: log.sink });
  const lockController = new EmulatedController(air, { address: "c0:de:00:00:00:01", name: "lock", log: log.sink });
  let uninstall: () => void;
  let lock: SimLock;
  let server: H4Server;

  beforeAll(async () => {
    uninstall = installEmulatedHci(new EmulatedAdapters([lockController]));
    process.env.BLENO_HCI_DEVICE_ID = "0";
    lock = await startLock({
      lockId: "h4-door",
      dataDir: tmp.make(),
      clock: new ManualClock(T0 * 1000),
      random: seededRandom("h4-door"),
      hardwareBle: true,
      tickIntervalMs: 0,
    });
    server = await serveH4({
      air,
      controller: (n) => ({ address: `c0:de:00:00:10:0${n}`, name: `remote-${n}`, log: log.sink }),
    });
  });

  afterAll(async () => {
    await server.close();
    await lock.stop();
    uninstall();
    delete process.env.BLENO_HCI_DEVICE_ID;
    air.close();
    tmp.cleanup();
  });

  function printLogOnFailure(): void {
    onTestFailed(() => {
      process.stderr.write(`${log.lines.slice(-300).join("\n")}\n`);
    });
  }

  it("noble over TCP to a controller the server hosts pings the lock; the connection's controller is on the air", async () => {
    printLogOnFailure();
    expect(server.address).toMatch(/^tcp:\/\/127\.0\.0\.1:\d+$/);
    const noble = loadNoble(h4HciSocketClass(server.address));
    const s = await connectToLock(noble, "h4-door");
    try {
      expect(server.controllers.map((c) => c.name)).toContain(`remote-${server.controllers.length}`);
      expect(await s.request({ id: "ping-tcp", type: "ping" })).toMatchObject({ ok: true, state: "locked" });
    } finally {
      await s.close();
      noble.removeAllListeners();
    }
  });

  it("the same over a unix socket", async () => {
    printLogOnFailure();
    const path = join(tmp.make(), "hci.sock");
    const unix = await serveH4({ air, listen: `unix:${path}` });
    try {
      expect(unix.address).toBe(`unix:${path}`);
      const noble = loadNoble(h4HciSocketClass(unix.address));
      const s = await connectToLock(noble, "h4-door");
      expect(await s.request({ id: "ping-unix", type: "ping" })).toMatchObject({ ok: true });
      await s.close();
      noble.removeAllListeners();
    } finally {
      await unix.close();
    }
  });

  it("from another process: a child node runs noble over H4 and pings the lock; killed, its link times out", async () => {
    printLogOnFailure();
    const script = `
      const { h4HciSocketClass, loadNoble } = await import(${JSON.stringify(DIST_INDEX)});
      const { connectToLock } = await import(${JSON.stringify(DIST_CENTRAL)});
      const noble = loadNoble(h4HciSocketClass(process.argv[1]));
      const s = await connectToLock(noble, "h4-door");
      const r = await s.request({ id: "ping-child", type: "ping" });
      process.stdout.write(JSON.stringify({ id: r.id, ok: r.ok, state: r.state, mtu: s.peripheral.mtu }) + "\\n");
    `;
    const child = spawn(process.execPath, ["--input-type=module", "-e", script, server.address], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let err = "";
    child.stderr.on("data", (d: Buffer) => {
      err += d.toString();
    });
    const exited = new Promise<NodeJS.Signals | null>((resolve) =>
      child.on("close", (_code, signal) => resolve(signal)),
    );
    const answer = await new Promise<string>((resolve, reject) => {
      let out = "";
      child.stdout.on("data", (d: Buffer) => {
        out += d.toString();
        if (out.endsWith("\n")) resolve(out);
      });
      child.on("close", () => reject(new Error(`the child exited without answering: ${err}`)));
    });
    expect(JSON.parse(answer)).toEqual({ id: "ping-child", ok: true, state: "locked", mtu: 256 });
    // Killed, noble's exit handler cannot say goodbye: the lock learns of it by supervision timeout (0x08).
    const timedOut = new Promise<void>((resolve) => {
      const onPacket = (p: Buffer) => {
        if (p[0] === 0x04 && p[1] === 0x05 && p[6] === 0x08) {
          lockController.removeListener("packet", onPacket);
          resolve();
        }
      };
      lockController.on("packet", onPacket);
    });
    child.kill("SIGKILL");
    expect(await exited).toBe("SIGKILL");
    await timedOut;
    expect(err).toBe("");
    // and the lock advertises again for the next phone
    const noble = loadNoble(h4HciSocketClass(server.address));
    const s = await connectToLock(noble, "h4-door");
    expect(await s.request({ id: "ping-after", type: "ping" })).toMatchObject({ ok: true });
    await s.close();
    noble.removeAllListeners();
  });

  it("takes only loopback addresses, and drops a connection whose stream is not H4", async () => {
    expect(() => parseH4Address("tcp://10.0.0.7:9000")).toThrow(/only loopback/);
    expect(() => parseH4Address("http://127.0.0.1:9000")).toThrow(/tcp:\/\/host:port nor unix/);
    expect(() => parseH4Address("unix:")).toThrow(/no socket path/);
    const { port } = new URL(server.address);
    const closed = await new Promise<boolean>((resolve) => {
      const socket = net.connect(Number(port), "127.0.0.1", () => socket.write(Buffer.from([0xff, 0x00, 0x00])));
      socket.on("close", () => resolve(true));
      socket.on("error", () => {});
    });
    expect(closed).toBe(true);
  });
});
