import Module, { createRequire } from "node:module";
import path from "node:path";
import type Bleno from "@abandonware/bleno";
import type { Noble } from "@latchkey/runtime";
import type { EmulatedController } from "./controller.js";
import { type EmulatedAdapters, type EmulatedHciSocketClass, emulatedHciSocketClass } from "./hci-socket.js";

/**
 * Loading noble and bleno, unmodified, on emulated controllers.
 *
 * Both reach the adapter only through `require("@abandonware/bluetooth-hci-socket")` at the top of their
 * lib/hci-socket/hci.js (and bleno's mgmt.js), and `new` it with no arguments. Neither takes a socket class: noble's
 * bindings take options (device id, extended scanning) but build their Hci themselves, and bleno is a singleton built
 * when its module loads. So the socket is swapped where Node resolves it: a `require.cache` entry for the resolved
 * path of `@abandonware/bluetooth-hci-socket` whose exports are our class. That is Node's documented module cache,
 * not a patch of its resolver (`Module._resolveFilename`) or of the libraries' files, and it can be scoped:
 *
 * - `loadNoble(controller)` / `loadBleno(controller)` load a private copy of the library with the entry in place,
 *   then put the cache back as it was: the copy keeps its socket class (hci.js captured it at load), nothing else
 *   in the process sees it, and each call gives an independent stack (bleno is otherwise one per process).
 * - `installEmulatedHci(adapters)` leaves the entry in place until uninstalled, so code that loads noble or bleno
 *   the ordinary way (lock-sim's `startLock({hardwareBle: true})`, `loadHardwareNoble()`) gets the emulated
 *   adapters, chosen by NOBLE_HCI_DEVICE_ID / BLENO_HCI_DEVICE_ID like real ones. It must run before either library
 *   is first loaded: a library already loaded holds the native class.
 */
export class HciEmulatorError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "HciEmulatorError";
  }
}

export type BlenoInstance = typeof Bleno;
type Library = "@abandonware/noble" | "@abandonware/bleno";

const require = createRequire(import.meta.url);
const SOCKET_MODULE = "@abandonware/bluetooth-hci-socket";

function libraryDir(library: Library): string {
  try {
    return path.dirname(require.resolve(`${library}/package.json`));
  } catch (e) {
    throw new HciEmulatorError(`${library} is not installed (${(e as Error).message}); it is an optional dependency`);
  }
}

/** Where `library` finds the HCI socket module (normally one hoisted copy for both). */
function socketPath(library: Library): string {
  return createRequire(path.join(libraryDir(library), "package.json")).resolve(SOCKET_MODULE);
}

function cacheEntry(file: string, exports: unknown): NodeJS.Module {
  const m = new Module(file) as NodeJS.Module;
  m.filename = file;
  m.loaded = true;
  m.exports = exports;
  return m;
}

/**
 * Runs `load` with `socketClass` as `library`'s HCI socket module and a fresh copy of `library`, then restores the
 * require cache: afterwards the process is as before, and what `load` returned keeps the emulated socket.
 */
export function loadWithHciSocket<T>(library: Library, socketClass: unknown, load: (req: NodeJS.Require) => T): T {
  const dir = libraryDir(library) + path.sep;
  const socket = socketPath(library);
  const cache = require.cache;
  const saved = new Map<string, NodeJS.Module | undefined>();
  for (const key of Object.keys(cache)) {
    if (!key.startsWith(dir)) continue;
    saved.set(key, cache[key]);
    delete cache[key];
  }
  const savedSocket = cache[socket];
  cache[socket] = cacheEntry(socket, socketClass);
  try {
    return load(require);
  } finally {
    for (const key of Object.keys(cache)) if (key.startsWith(dir)) delete cache[key];
    for (const [key, m] of saved) if (m !== undefined) cache[key] = m;
    if (savedSocket !== undefined) cache[socket] = savedSocket;
    else delete cache[socket];
  }
}

export interface NobleOnControllerOptions {
  /** noble's extended (Bluetooth 5) scanning and connecting; the emulator answers those commands Unknown (0x01). */
  extended?: boolean;
}

type Target = EmulatedController | EmulatedAdapters | (new () => unknown);

/** The socket class for a target: a controller (as hci0), adapters (by device id), or a socket class itself. */
function socketClassFor(target: Target): unknown {
  return typeof target === "function" ? target : emulatedHciSocketClass(target);
}

/**
 * A private noble on `target`: an emulated controller, emulated adapters (device `deviceId`, else the first up), or
 * a socket class such as `h4HciSocketClass(address)` for a controller in another process.
 */
export function loadNoble(target: Target, options: NobleOnControllerOptions & { deviceId?: number } = {}): Noble {
  return loadWithHciSocket("@abandonware/noble", socketClassFor(target), (req) => {
    // The hci-socket bindings directly, not resolve-bindings: that one picks by platform and environment.
    const Bindings = req("@abandonware/noble/lib/hci-socket/bindings") as new (o: object) => unknown;
    const withBindings = req("@abandonware/noble/with-bindings") as (bindings: unknown) => Noble;
    return withBindings(new Bindings({ ...options }));
  });
}

/** A private bleno on `target` (as `loadNoble`; with adapters, BLENO_HCI_DEVICE_ID picks the device). */
export function loadBleno(target: Target): BlenoInstance {
  if (process.platform === "darwin")
    throw new HciEmulatorError("bleno uses its macOS bindings on darwin; the emulated HCI needs its hci-socket ones");
  return loadWithHciSocket(
    "@abandonware/bleno",
    socketClassFor(target),
    (req) => req("@abandonware/bleno") as BlenoInstance,
  );
}

/**
 * Makes `adapters` this process's Bluetooth adapters for every later ordinary load of noble and bleno. Returns the
 * function that undoes it (libraries loaded meanwhile keep the emulated socket).
 */
export function installEmulatedHci(adapters: EmulatedAdapters | EmulatedHciSocketClass): () => void {
  const cache = require.cache;
  for (const library of ["@abandonware/noble", "@abandonware/bleno"] as const) {
    let hci: string;
    try {
      hci = require.resolve(`${library}/lib/hci-socket/hci.js`);
    } catch {
      continue; // not installed: nothing to swap for it
    }
    if (cache[hci] !== undefined)
      throw new HciEmulatorError(
        `${library} was loaded before the emulated HCI was installed, so it holds the native socket; install first`,
      );
  }
  const Socket = typeof adapters === "function" ? adapters : emulatedHciSocketClass(adapters);
  const paths = new Set<string>();
  for (const library of ["@abandonware/noble", "@abandonware/bleno"] as const) {
    try {
      paths.add(socketPath(library));
    } catch {
      // not installed
    }
  }
  const saved = new Map([...paths].map((p) => [p, cache[p]] as const));
  for (const p of paths) cache[p] = cacheEntry(p, Socket);
  return () => {
    for (const [p, m] of saved) {
      if (m !== undefined) cache[p] = m;
      else delete cache[p];
    }
  };
}
