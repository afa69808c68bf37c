import { findPackage } from "@latchkey/runtime";

/** The @latchkey/lock-sim version for `--version` (issue 15 item 10). */
export const PACKAGE_VERSION = findPackage("@latchkey/lock-sim", import.meta.url).version;
