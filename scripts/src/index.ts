export * from "./client/index.js";
export * from "./mosquitto/acl.js";
export * from "./mosquitto/files.js";
export * from "./mosquitto/password-file.js";
export * from "./stack/index.js";
