export * from "./state.js";
export * from "./verify.js";
