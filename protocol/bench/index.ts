export * from "./reports.js";
export * from "./state.js";
export * from "./verify.js";
