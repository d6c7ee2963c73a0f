import { z } from "zod";
import { ServerName } from "./config/schema.ts";

/** Where the edge asks the origin, at a user's sign-in, to start that user's upstreams before their first call. */
export const WARM_PATH = "/servers/warm";

/** The servers to start for the user the edge assertion (`purpose: "warm"`) names. */
export const WarmRequest = z.strictObject({
  servers: z.array(ServerName).max(100, "expected at most 100 server names"),
});
export type WarmRequest = z.infer<typeof WarmRequest>;
