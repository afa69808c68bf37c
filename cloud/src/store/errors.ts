/** A `startAfterId` that names nothing in the listed collection: the caller answers 400. */
export class UnknownCursorError extends Error {
  constructor(readonly cursor: string) {
    super(`startAfterId "${cursor}" is not an item of this list`);
    this.name = "UnknownCursorError";
  }
}
