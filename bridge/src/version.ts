import { findPackage } from "@latchkey/runtime";

const found = findPackage("@latchkey/bridge", import.meta.url);
export const BRIDGE_VERSION = found.version;
/** The bridge package directory (holds bin/latchkey-bridge.js). */
export const BRIDGE_PACKAGE_ROOT = found.root;
