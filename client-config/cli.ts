#!/usr/bin/env node
// mcp-edge-client-config: `npm run client-config -- --url …` in a clone of the repository (it is not on the registry).
import { EXIT, parseOptions, USAGE } from "./args.ts";
import { UsageError } from "./edge-url.ts";
import { currentPlatform, placesFor } from "./locations.ts";
import { carriesCredentials, proxyFromEnv } from "./proxy.ts";
import { noClientFound, report, summary } from "./report.ts";
import { run } from "./run.ts";

const COMMAND = "mcp-edge-client-config";

async function main(argv: readonly string[]): Promise<number> {
  let options: ReturnType<typeof parseOptions>;
  try {
    options = parseOptions(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`${COMMAND}: ${error.message}\n(${COMMAND} --help for the options)`);
    return EXIT.usage;
  }
  if (options.help) {
    console.log(USAGE);
    return EXIT.ok;
  }
  const found = proxyFromEnv(process.env);
  const proxy = found && !carriesCredentials(found) ? found : undefined;
  if (found && !proxy && options.mode === "write") {
    console.error(
      `${COMMAND}: HTTPS_PROXY carries a user name or password: it is not written into any client, where it would be kept in plain text; set it in the client's environment yourself`,
    );
  }
  const places = placesFor(options.platform ?? currentPlatform(), options.home, process.env);
  const action = options.mode === "write" ? `writing ${options.url} as "${options.name}"` : `removing "${options.name}"`;
  console.log(`${COMMAND}: ${action}${options.dryRun ? " (dry run: nothing is written)" : ""}`);
  if (proxy && options.mode === "write")
    console.log(`  proxy: HTTPS_PROXY ${proxy.httpsProxy}${proxy.noProxy ? `, NO_PROXY ${proxy.noProxy}` : ""}`);

  const outcomes = await run({
    request: { mode: options.mode, url: options.url, name: options.name, proxy, places },
    clients: options.clients,
    explicit: options.explicit,
    dryRun: options.dryRun,
    now: new Date(),
  });
  for (const line of report(outcomes, { mode: options.mode, dryRun: options.dryRun, proxySet: proxy !== undefined })) {
    console.log(line);
  }
  console.log(`${COMMAND}: ${summary(outcomes, { dryRun: options.dryRun }) || "no clients"}`);
  const failed = outcomes.filter((outcome) => outcome.status === "failed");
  for (const outcome of failed) console.error(`${COMMAND}: ${outcome.file}: ${outcome.detail}`);
  if (failed.length > 0) return EXIT.failed;
  // Every client skipped: a deployment script must be able to tell "nothing written" from "done". A removal
  // that finds no client has nothing to do, which is what it was asked to bring about.
  const none = noClientFound(outcomes, places, { mode: options.mode, dryRun: options.dryRun });
  if (none === undefined) return EXIT.ok;
  if (options.mode === "remove") {
    console.log(`${COMMAND}: ${none}`);
    return EXIT.ok;
  }
  console.error(`${COMMAND}: ${none}`);
  return EXIT.noClient;
}

process.exitCode = await main(process.argv.slice(2));
