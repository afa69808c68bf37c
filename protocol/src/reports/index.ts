export * from "./key.js";
export * from "./mac0.js";
export * from "./report.js";
