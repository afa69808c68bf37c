import { AnswerWatch } from "@latchkey/protocol/testing/openapi-fetch";

/**
 * The one answer watch of a test file (issue 14: the OpenAPI document is a contract): every answer a cloud gives over
 * HTTP in the whole-stack suites, through the process's fetch (the typed clients, the site harnesses, the bridge in
 * process) or a raw exchange (`answer`), is checked against that cloud's /docs/json. `openapi-setup.ts` installs it.
 */
export const answers = new AnswerWatch(globalThis.fetch.bind(globalThis));
