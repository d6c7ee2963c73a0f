/**
 * How long the consent page must have been on screen before Allow counts. A page of another site can send the
 * browser here on the first click of a double-click, so that the second lands on Allow as the page appears (double-
 * click hijacking, s24 hunt pages F1): the buttons take no click for this long (html.ts's `arm` animation), and a
 * decision posted sooner is refused (for a browser that ignores the animation).
 */
export const CONSENT_ARMING_MS = 700;

/** The consent form's field that carries when the page was made (milliseconds since the epoch). */
export const SHOWN_FIELD = "shown";

/** Whether an Allow came too soon after its page was made to be a decision about that page. */
export function allowedTooSoon(shown: string | null, now = Date.now()): boolean {
  const at = Number(shown);
  return shown !== null && Number.isFinite(at) && now - at < CONSENT_ARMING_MS;
}
