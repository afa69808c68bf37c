export * from "./batch.js";
export * from "./counter.js";
export * from "./key.js";
export * from "./mac0.js";
export * from "./report.js";
