import type { OpsStats, OpsWindow, TailCall } from "../../../contract/ops-stats.ts";

/** Where the dashboard's figures come from; the page reads only through this. */
export interface OpsDataSource {
  /** One sentence for the page: where the figures come from and what they cannot show. */
  readonly description: string;
  stats(window: OpsWindow): Promise<OpsStats>;
  /** The most recent MCP calls, newest first. */
  tail(limit: number): Promise<TailCall[]>;
}

/** A source could not answer; the message says what failed and what to check. */
export class OpsSourceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "OpsSourceError";
  }
}

/** The administrator the figures are read for (the origin source names them in its assertion). */
export interface OpsReader {
  // The fields of UserProps the sources need (worker/env.ts is not imported: the Node tests of a source load this file).
  user: { sub: string; email?: string; groups: string[] };
  clientId: string;
}
