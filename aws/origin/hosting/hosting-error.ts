/** A request the pool cannot serve, with the HTTP status, a message that says what to do, and when to try again. */
export class HostingError extends Error {
  readonly status: 404 | 503;
  readonly retryAfterSeconds?: number;
  constructor(status: 404 | 503, message: string, retryAfterSeconds?: number) {
    super(message);
    this.name = "HostingError";
    this.status = status;
    this.retryAfterSeconds = retryAfterSeconds;
  }
}
