import { ProtocolError } from "@modelcontextprotocol/server";
import { GUARDRAIL_REFUSED_CODE } from "./hook.ts";

/** A call a guardrail refused; the message names the guardrail and says why. */
export class GuardrailRefusal extends ProtocolError {
  constructor(guardrail: string, reason: string) {
    super(GUARDRAIL_REFUSED_CODE, `refused by guardrail ${guardrail}: ${reason}`);
    this.name = "GuardrailRefusal";
  }
}
