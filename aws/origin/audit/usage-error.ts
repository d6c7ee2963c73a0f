/** A mistake in an audit command's arguments: `npm run audit` exits 2 with the message and the usage. */
export class UsageError extends Error {
  override name = "UsageError";
}
