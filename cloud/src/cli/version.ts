import { findPackage } from "@latchkey/runtime";

/** The @latchkey/cloud version for `--version` (issue 15 item 10). */
export const PACKAGE_VERSION = findPackage("@latchkey/cloud", import.meta.url).version;
