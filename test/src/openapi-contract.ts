import { type HttpExchange, httpExchange } from "@latchkey/bridge";
import { AnswerWatch } from "@latchkey/protocol/testing/openapi-fetch";

/**
 * The one answer watch of a test file (issue 14: the OpenAPI document is a contract): every answer a cloud gives over
 * HTTP in the whole-stack suites, through the process's fetch (the typed clients, the site harnesses, the bridge in
 * process) or a raw exchange (`answer`), is checked against that cloud's /docs/json. `openapi-setup.ts` installs it.
 */
export const answers = new AnswerWatch(globalThis.fetch.bind(globalThis));

/**
 * The in-process bridge's HTTP exchange (BridgeOptions.cloudExchange), checking every answer of the cloud's bridge API
 * it gets: the bridge's own calls are the bridge API's realest traffic (feeds, reports, states, commands).
 */
export const checkedExchange: HttpExchange = async (url, init) => {
  const answer = await httpExchange(url, init);
  if (answer.headers["x-request-id"] !== undefined) {
    const target = new URL(url);
    await answers.answer(
      init.method,
      target.origin,
      `${target.pathname}${target.search}`,
      answer.status,
      answer.headers["content-type"],
      answer.text,
    );
  }
  return answer;
};
