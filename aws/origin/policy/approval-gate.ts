import { createHash, randomUUID } from "node:crypto";
import { ProtocolError, type ServerContext } from "@modelcontextprotocol/server";
import canonicalize from "canonicalize";
import type { AuditEvent } from "../../../contract/audit-event.ts";
import { MAX_INPUT_WAIT_SECONDS } from "../../../contract/config/schema.ts";
import { callerCapabilities } from "../hosting/caller-capabilities.ts";
import { type ForwardState, type ForwardStateCodec, sealInputRequired } from "../hosting/request-state.ts";
import type { ReplayGuard } from "../trust/replay-guard.ts";

/** The key of the gateway's own question among a round's input requests (never an upstream's). */
export const APPROVAL_INPUT_KEY = "mcp-edge/approval";
/** JSON-RPC error of a call that needed the user's approval and did not get it. */
export const APPROVAL_REFUSED_CODE = -32006;

/** How long a user has to answer, and how long an approval stays usable. */
const APPROVAL_TTL_MS = 5 * 60_000;
/** How long a used continuation nonce is remembered: as long as any requestState may live. */
const CONTINUATION_MEMORY_MS = MAX_INPUT_WAIT_SECONDS * 1000;
/** Where this gate's nonces sit among the other single-use values of the shared record (edge assertions' jtis). */
const NONCE_PREFIX = "approval:";
/**
 * The most argument text a prompt shows. The user approves what they see: a call whose arguments do not fit is
 * refused rather than asked about with part of them hidden (padding could push what matters out of sight).
 */
const SHOWN_ARGUMENTS = 20_000;

type Params = Record<string, unknown>;

/** The call that needs approval, as the gate sees it. */
export interface GatedCall {
  server: string;
  tool: string;
  args: Params;
  /** The policy rule that asks for approval, as refusals name it. */
  rule: string;
  user: { sub: string; email?: string; clientId?: string };
}

/**
 * Asks the calling user to confirm a call before it reaches the upstream (policy `require_approval`): the gateway's
 * own input request, an elicitation form in both eras (a 2025-era client gets it as a server-to-client request from
 * its session object). The approval is bound to the user, the tool and a hash of the arguments (inside the sealed
 * requestState), used once, and expires. A client that cannot show a prompt is refused, never let through. The later
 * rounds of an approved call (its upstream asked the client for something) carry the approved arguments' hash and a
 * nonce of their own: each continues that call once, with those arguments. Used nonces are claimed in the record
 * every origin instance shares (`claimOnce`, the replay guard's table), because a requestState opens on any instance
 * holding the same REQUEST_STATE_KEY, and on this one after a restart: an approval replayed there is refused too.
 */
export class ApprovalGate {
  readonly #audit: (event: AuditEvent) => void;
  readonly #claimOnce: ReplayGuard["claim"];

  constructor(audit: (event: AuditEvent) => void, claimOnce: ReplayGuard["claim"]) {
    this.#audit = audit;
    this.#claimOnce = claimOnce;
  }

  /**
   * Undefined when the request carries this call's approval (consumed now) or continues an approved call; else the
   * input_required result that asks for it. Throws ApprovalRefused when the answer is no, stale, reused or impossible.
   */
  async check(ctx: ServerContext, codec: ForwardStateCodec, target: string, call: GatedCall): Promise<Params | undefined> {
    const state = ctx.mcpReq.requestState<ForwardState>();
    const hash = argumentsHash(call.args);
    // A later round of a call approved already (its upstream asked the client for something, or the gateway asked for
    // a consent or a link on its behalf): nothing to ask again.
    if (state?.x !== undefined || state?.u !== undefined || state?.g !== undefined) return this.#continued(state.g, hash, call);
    if (state?.ap) return this.#answered(ctx, state.ap, hash, call);
    if (!callerCapabilities(ctx)?.elicitation) {
      this.#record(call, "error");
      throw new ApprovalRefused(
        `calling "${call.tool}" on server "${call.server}" needs your confirmation (${call.rule}), and this client cannot show prompts (it declares no elicitation capability); use a client that can`,
      );
    }
    const shown = JSON.stringify(call.args, null, 2);
    if (shown.length > SHOWN_ARGUMENTS) {
      this.#record(call, "error");
      throw new ApprovalRefused(
        `calling "${call.tool}" on server "${call.server}" needs your confirmation (${call.rule}), and its arguments (${shown.length} characters) are more than a prompt shows (${SHOWN_ARGUMENTS}); it was not run`,
      );
    }
    const approval = { h: hash, n: randomUUID(), e: Date.now() + APPROVAL_TTL_MS };
    const asking = { [APPROVAL_INPUT_KEY]: { method: "elicitation/create", params: prompt(call, shown) } };
    return sealInputRequired(
      { resultType: "input_required", inputRequests: asking },
      codec,
      { t: target, ap: approval },
      ctx,
      APPROVAL_TTL_MS,
    );
  }

  async #answered(ctx: ServerContext, approval: NonNullable<ForwardState["ap"]>, hash: string, call: GatedCall) {
    if (approval.h !== hash)
      this.#refuse(call, "the arguments changed since the approval was asked for; call again to be asked about these");
    if (approval.e < Date.now()) this.#refuse(call, "the approval expired; call again to be asked again");
    if (!(await this.#claimOnce(NONCE_PREFIX + approval.n, new Date(approval.e))))
      this.#refuse(call, "this approval was used already; each approval allows one call");
    const answer = ctx.mcpReq.inputResponses?.[APPROVAL_INPUT_KEY] as
      | { action?: unknown; content?: { approve?: unknown } }
      | undefined;
    if (answer?.action !== "accept" || answer.content?.approve !== true) {
      this.#record(call, "denied");
      throw new ApprovalRefused(`you did not approve calling "${call.tool}" on server "${call.server}"; it was not run`);
    }
    this.#record(call, "ok");
    return undefined;
  }

  /**
   * A later round of an approved call: the same arguments, once. That it is the same tool is checked where the round
   * resumes (the state's target, in forwarding-server.ts), before anything reaches the upstream.
   */
  async #continued(mark: ForwardState["g"], hash: string, call: GatedCall): Promise<undefined> {
    if (!mark)
      this.#refuse(call, "this continues a call that was not approved (the policy changed since); call again to be asked");
    if (mark.h !== hash)
      this.#refuse(call, "the arguments changed since the approval was given; call again to be asked about these");
    if (!(await this.#claimOnce(NONCE_PREFIX + mark.n, new Date(Date.now() + CONTINUATION_MEMORY_MS))))
      this.#refuse(call, "this round of the approved call was sent already; each approval allows one call");
    return undefined;
  }

  #refuse(call: GatedCall, reason: string): never {
    this.#record(call, "denied");
    throw new ApprovalRefused(reason);
  }

  /** The user's answer as the audit records it: ok (approved), denied (declined, stale or reused), error (no prompt). */
  #record(call: GatedCall, outcome: "ok" | "denied" | "error"): void {
    this.#audit({
      id: randomUUID(),
      time: new Date().toISOString(),
      kind: "mcp.approval",
      userSub: call.user.sub,
      userEmail: call.user.email,
      clientId: call.user.clientId,
      server: call.server,
      method: "tools/call",
      tool: call.tool,
      outcome,
      errorCode: outcome === "ok" ? undefined : APPROVAL_REFUSED_CODE,
      latencyMs: 0,
    });
  }
}

export class ApprovalRefused extends ProtocolError {
  constructor(reason: string) {
    super(APPROVAL_REFUSED_CODE, `not approved: ${reason}`);
    this.name = "ApprovalRefused";
  }
}

/** What an approval is bound to: the call's arguments, canonical JSON, SHA-256. */
export const argumentsHash = (args: Params) =>
  createHash("sha256")
    .update(canonicalize(args) ?? "")
    .digest("hex");

/** The question in plain words: which tool, on which server, with which arguments, and why it is asked. */
function prompt(call: GatedCall, args: string): Params {
  return {
    mode: "form",
    message: `Allow the tool "${call.tool}" on server "${call.server}" to run with these arguments?\n\n${args}\n\nYour company's policy asks you to confirm this call (${call.rule}).`,
    requestedSchema: {
      type: "object",
      properties: { approve: { type: "boolean", title: "Run it", description: "Check to run this call once" } },
      required: ["approve"],
    },
  };
}
