import { afterAll, afterEach } from "vitest";
import { answers } from "./openapi-contract.js";

/**
 * vitest setup of the e2e and reliability projects (vitest.config.ts): the process's fetch checks every cloud answer
 * against the cloud's OpenAPI document, and a test whose run saw an answer off the document fails after it, with
 * each mismatch named (a mismatch inside a bridge's retry loop would otherwise be swallowed there).
 */
globalThis.fetch = answers.fetch();
// Test files share a worker's modules (vitest.config.ts: isolate false), so the watch outlives a file: count its own.
const checkedBefore = answers.checked;

function failOnProblems(): void {
  const problems = answers.takeProblems();
  if (problems.length > 0) {
    throw new Error(`${problems.length} answer(s) off the OpenAPI document:\n${problems.slice(0, 10).join("\n")}`);
  }
}

afterEach(failOnProblems);

afterAll(() => {
  // The file's count, for the run's report (grep "openapi answers checked"); and what no test's afterEach took.
  console.info(
    `openapi answers checked: ${answers.checked - checkedBefore} (${answers.byOperation.size} operations so far)`,
  );
  failOnProblems();
});
