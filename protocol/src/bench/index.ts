export * from "./reports.js";
export * from "./verify.js";
