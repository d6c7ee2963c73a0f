import type { EdgeConfig } from "../../contract/config/schema.ts";
import { domainOfEmail } from "../../contract/email-domain.ts";
import type { UserProps } from "../env.ts";
import { GOOGLE_ISSUER } from "./google-issuer.ts";

/**
 * Whether this user's account belongs to an allowed domain. With no allowed domains configured, anyone the
 * identity provider signs in is allowed. Google accounts must carry the Workspace `hd` claim (an e-mail address
 * on the domain is not proof: consumer accounts can use any address); other providers are trusted for
 * their verified e-mail (the only e-mail the id_token check keeps), never for an `hd` claim: elsewhere that name
 * means nothing standard, and could be an attribute the user set on their own profile.
 * Returns null when allowed, else the reason.
 */
export function domainRefusal(config: EdgeConfig, user: UserProps): string | null {
  const allowed = config.idp.allowedDomains.map((domain) => domain.toLowerCase());
  if (allowed.length === 0) return null;
  if (config.idp.issuer === GOOGLE_ISSUER) {
    if (!user.hostedDomain) return "only Google Workspace accounts of the company may use this proxy";
    return allowed.includes(user.hostedDomain.toLowerCase()) ? null : `accounts of ${user.hostedDomain} may not use this proxy`;
  }
  const emailDomain = domainOfEmail(user.email);
  if (!emailDomain) return "the identity provider did not vouch for an e-mail address";
  return allowed.includes(emailDomain) ? null : `accounts of ${emailDomain} may not use this proxy`;
}
