export interface Progress {
  progress: number;
  total?: number;
  message?: string;
}

/**
 * Routes an upstream's progress notifications to the request they belong to, by a token the origin puts on
 * each upstream request. The SDK's own progress routing drops a notification that arrives just before its
 * request's answer (it handles the answer first), and the last progress step is exactly that one.
 */
export class ProgressRoutes {
  private readonly routes = new Map<string, (progress: Progress) => void>();
  private next = 0;

  /** A token for one upstream request; `close` once its answer has been relayed. */
  open(deliver: (progress: Progress) => void): { token: string; close(): void } {
    const token = `origin-${++this.next}`;
    this.routes.set(token, deliver);
    return { token, close: () => this.routes.delete(token) };
  }

  deliver(params: { progressToken?: unknown } & Progress): void {
    const { progressToken, ...progress } = params;
    if (typeof progressToken === "string") this.routes.get(progressToken)?.(progress);
  }
}
