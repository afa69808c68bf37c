import { AnswerChecker } from "./openapi-answers.js";

/**
 * Checks every answer a latchkey cloud gives over HTTP against the OpenAPI document that cloud serves (issue 14: the
 * document is a contract), for suites that reach the cloud over the network rather than by `inject`: the whole-stack
 * suites wrap the process's `fetch` with `fetch()` here and hand raw exchanges to `answer()`.
 *
 * Which origins are clouds is learnt, not configured: an answer carrying `x-request-id` (the cloud sets it on every
 * answer, cloud/src/app.ts) makes the watch read `/docs/json` from the first such origin; an origin that does not
 * serve an OpenAPI document there is never asked again. Every cloud of a test process runs the same code, so once one
 * document is known, later origins (another cloud, a restarted one on a new port, a fault proxy in front of one that
 * forwards the header) are checked against it without being asked: a request of the watch's own through a fault
 * proxy would be counted, or hang, there.
 *
 * A mismatch does not throw where it is found (that may be inside a bridge's or a script's own retry loop, which
 * would swallow it): it is kept in `problems` for the suite to fail on (`takeProblems`).
 */
/** How long reading a document may take: a cloud that does not answer in this long is asked again later. */
const LEARN_TIMEOUT_MS = 5000;

export class AnswerWatch {
  /** Answers checked against an operation of the document. */
  checked = 0;
  /** Checked answers by operation (`GET /path/{id} (operationId)`), for the run's report. */
  readonly byOperation = new Map<string, number>();
  private problems: string[] = [];
  private readonly origins = new Map<string, Promise<AnswerChecker | null>>();
  private readonly checkers = new Map<string, AnswerChecker>();

  /** `inner` (the real fetch) reads the documents, so learning an origin is never itself checked. */
  constructor(private readonly inner: typeof fetch) {}

  /** A fetch that answers what `inner` answers, after checking the answer (a clone of it) against the document. */
  fetch(): typeof fetch {
    return async (input, init) => {
      const res = await this.inner(input, init);
      // Only a cloud's answers carry x-request-id; anything else (webhook receivers, a bridge's status stream) is
      // passed through unread.
      if (res.headers.has("x-request-id")) {
        const url = new URL(typeof input === "string" ? input : input instanceof URL ? input.href : input.url);
        await this.answer(
          init?.method ?? (input instanceof Request ? input.method : "GET"),
          url.origin,
          `${url.pathname}${url.search}`,
          res.status,
          res.headers.get("content-type") ?? undefined,
          await res.clone().text(),
        );
      }
      return res;
    };
  }

  /**
   * Checks one answer of the cloud at `origin` (a raw exchange that did not go through `fetch()`); `path` as sent,
   * byte for byte (a URL would normalize `../` away, and the cloud's router sees it as sent).
   */
  async answer(
    method: string,
    origin: string,
    path: string,
    status: number,
    contentType: string | undefined,
    body: string,
  ): Promise<void> {
    const checker = await this.checkerOf(origin);
    if (!checker) return;
    const { operation, problem } = checker.check(method, path, status, contentType, body);
    if (operation === undefined) return;
    this.checked++;
    this.byOperation.set(operation, (this.byOperation.get(operation) ?? 0) + 1);
    if (problem !== undefined) this.problems.push(problem);
  }

  /** The mismatches found since the last call (and forgets them). */
  takeProblems(): string[] {
    const found = this.problems;
    this.problems = [];
    return found;
  }

  private checkerOf(origin: string): Promise<AnswerChecker | null> {
    let known = this.origins.get(origin);
    if (!known) {
      known = this.learn(origin);
      this.origins.set(origin, known);
    }
    return known;
  }

  private async learn(origin: string): Promise<AnswerChecker | null> {
    if (this.checkers.size === 1) return [...this.checkers.values()][0]!;
    let text: string;
    try {
      const res = await this.inner(`${origin}/docs/json`, { signal: AbortSignal.timeout(LEARN_TIMEOUT_MS) });
      text = await res.text();
      if (res.status !== 200) return null;
    } catch {
      // The cloud went away (or hangs) between its answer and this read (a test stopping it): ask again next time.
      this.origins.delete(origin);
      return null;
    }
    let doc: { openapi?: unknown; paths?: unknown };
    try {
      doc = JSON.parse(text);
    } catch {
      return null;
    }
    if (typeof doc.openapi !== "string" || typeof doc.paths !== "object" || doc.paths === null) return null;
    let checker = this.checkers.get(text);
    if (!checker) {
      checker = new AnswerChecker(doc as ConstructorParameters<typeof AnswerChecker>[0]);
      this.checkers.set(text, checker);
    }
    return checker;
  }
}
