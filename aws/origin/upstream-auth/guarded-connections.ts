import { type LookupAddress, lookup } from "node:dns";
import { isIP, type LookupFunction } from "node:net";
import { Agent, buildConnector } from "undici";
import { isWithin, type Reach, reachOfAddress } from "./internal-targets.ts";

/**
 * Connections no further into the network than `limit` (internal-targets.ts), checked when each is opened, on the
 * address it is opened to: a redirect the fetch follows on its own, and a name that resolved to a public address when
 * it was checked and to an internal one now (DNS rebinding), are refused like the URL an upstream named. One agent per
 * limit, so that connections to an authorization server are kept alive between steps.
 */
export function connectionsWithin(limit: Reach): Agent {
  let agent = agents.get(limit);
  if (!agent) {
    agent = guardedAgent(limit);
    agents.set(limit, agent);
  }
  return agent;
}

const agents = new Map<Reach, Agent>();

function guardedAgent(limit: Reach): Agent {
  const refusal = (host: string, address: string) =>
    new Error(
      `refused to connect to ${host} (${address}): it is further inside the network than the upstream the origin was sent there for`,
    );
  const checkedLookup = ((host: string, options: { all?: boolean }, callback: LookupCallback) =>
    lookup(host, { ...options, all: true }, (error, addresses: LookupAddress[]) => {
      if (error) return callback(error, options.all ? [] : "", 0);
      const refused = addresses.find((entry) => !isWithin(reachOfAddress(entry.address), limit));
      if (refused) return callback(refusal(host, refused.address), options.all ? [] : "", 0);
      if (options.all) return callback(null, addresses);
      const first = addresses[0] as LookupAddress;
      callback(null, first.address, first.family);
    })) as unknown as LookupFunction;
  const connect = buildConnector({ lookup: checkedLookup } as buildConnector.BuildOptions);
  return new Agent({
    connect: (options, callback) => {
      // An address written in the URL is connected to without a lookup: it is checked here instead.
      const literal = options.hostname.replace(/^\[|\]$/g, "");
      if (isIP(literal) && !isWithin(reachOfAddress(literal), limit)) return callback(refusal(literal, literal), null);
      return connect(options, callback);
    },
  });
}

type LookupCallback = (error: Error | null, address: string | LookupAddress[], family?: number) => void;
