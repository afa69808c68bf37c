/**
 * The commands an operator gets from installing the latchkey packages (each package README), one per package that has
 * one, and two from scripts. Tests of the packed install and of every CLI as an operator types it check the packages'
 * `bin` fields against this one list, so adding or dropping a command is a decision made here.
 */
export const LATCHKEY_BINS = [
  "latchkey-bridge",
  "latchkey-cloud",
  "latchkey-lock-sim",
  "latchkey-mosquitto-acl",
  "latchkey-stack",
  "latchkey-token",
] as const;
