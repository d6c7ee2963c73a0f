// Starts the local system with the conformance fixture as upstreams `modern` and `legacy`, signs in, and keeps a
// token forwarder per upstream running until Ctrl-C, for running the suite by hand through the proxy:
//   npx node test/conformance/serve-through-proxy.ts
//   npx node test/conformance/report.ts --url <forwarder URL> --requirements 2026-07-28 [--scenario …]
import { startProxySystem } from "./proxy-system.ts";

const system = await startProxySystem();
console.log(`edge: ${system.edgeUrl}`);
for (const [name, forwarder] of Object.entries(system.forwarders)) {
  console.log(`${name}: ${forwarder.url} -> ${system.edgeUrl}/mcp/${name}`);
}
if (process.argv.includes("--verbose")) for (const line of system.output()) console.log(line);
const stop = async () => {
  await system.close();
  process.exit(0);
};
process.once("SIGINT", stop);
process.once("SIGTERM", stop);
