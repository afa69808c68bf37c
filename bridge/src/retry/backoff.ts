// One backoff for every latchkey process: its home is @latchkey/runtime, next to the loop that uses it.
export { Backoff } from "@latchkey/runtime";
