import { applyTarget, type Outcome } from "./apply.ts";
import type { ClientRecord } from "./clients.ts";
import { directoryExists } from "./config-file.ts";
import { resolve } from "./locations.ts";
import { type Request, targetsFor } from "./targets.ts";

export interface RunOptions {
  readonly request: Request;
  readonly clients: readonly ClientRecord[];
  /** Chosen by name (or `all`): written even where the client looks uninstalled. */
  readonly explicit: boolean;
  readonly dryRun: boolean;
  readonly now: Date;
}

export async function run(options: RunOptions): Promise<Outcome[]> {
  const outcomes: Outcome[] = [];
  for (const client of options.clients) {
    const installedDir = resolve(options.request.places, client.installedDir);
    if (!options.explicit && !(await directoryExists(installedDir))) {
      const file = resolve(options.request.places, client.configFile);
      outcomes.push({
        client,
        file,
        status: "skipped",
        detail: `not installed (no ${installedDir}); --client ${client.id} to include it`,
        diff: "",
      });
      continue;
    }
    for (const target of targetsFor(client, options.request)) {
      // One client's unreadable file must not stop the others: it is reported and the exit code says so.
      const outcome = await applyTarget(client, target, options.request, options).catch(
        (error: unknown): Outcome => ({
          client,
          file: target.file,
          status: "failed",
          detail: String(error instanceof Error ? error.message : error),
          diff: "",
        }),
      );
      outcomes.push(outcome);
    }
  }
  return outcomes;
}
