/**
 * What the cloud's rules refuse, said without HTTP: the kind of refusal, the machine-readable code the answer carries
 * (`error`) and the words for people (`errorDescription`, docs/design.md section 4). http/errors.ts holds the one table
 * from kind to status code; the domain never names a status.
 */
export type DomainErrorKind =
  /** The request itself is wrong: a field, a combination of fields. */
  | "invalid"
  /** Permitted to nobody in this state (a vendor connection in error, a virtual lock's verdict). */
  | "forbidden"
  /** Not there, or not the caller's to see: the same answer, so ids cannot be probed (domain/access.ts). */
  | "not_found"
  /** Conflicts with the current state (already claimed, already issued, closed). */
  | "conflict"
  /** Well-formed but meaningless: a setup code that fails its checksum, a landline as a key holder. */
  | "unprocessable"
  /** Over a limit for now: try again after `retryAfterMs`. */
  | "rate_limited";

export class DomainError extends Error {
  constructor(
    readonly kind: DomainErrorKind,
    readonly code: string,
    description: string,
    /** With `rate_limited`: when a retry may succeed (the answer's Retry-After). */
    readonly retryAfterMs?: number,
  ) {
    super(description);
    this.name = "DomainError";
  }
}

export const invalid = (description: string, code = "invalid_request") => new DomainError("invalid", code, description);
export const forbidden = (description: string, code = "forbidden") => new DomainError("forbidden", code, description);
/** `what` is not there (or not the caller's): "<what> was not found". */
export const notFound = (what: string) => new DomainError("not_found", "not_found", `${what} was not found`);
export const conflict = (description: string, code = "conflict") => new DomainError("conflict", code, description);
export const unprocessable = (description: string, code = "invalid_parameter") =>
  new DomainError("unprocessable", code, description);
export const tooMany = (description: string, retryAfterMs?: number, code = "too_many_requests") =>
  new DomainError("rate_limited", code, description, retryAfterMs);
