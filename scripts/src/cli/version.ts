import { findPackage } from "@latchkey/runtime";

/** The @latchkey/scripts version for `--version` (issue 15 item 10). */
export const PACKAGE_VERSION = findPackage("@latchkey/scripts", import.meta.url).version;
