export * from "./mosquitto/acl.js";
export * from "./mosquitto/files.js";
export * from "./mosquitto/password-file.js";
