import { CONSENT_ARMING_MS } from "../../contract/consent-arming.ts";

/**
 * The consent page's one script: its buttons take no click for `CONSENT_ARMING_MS` again each time the page comes back
 * into view or focus (s24 review R2). A page of another site can load the consent page behind a pop-up, wait past the
 * arming animation and the server's floor (both count from when the page was made), then bring it forward under the
 * second click of a double-click. Without JavaScript the animation and the floor still hold, as before.
 */
export const CONSENT_REARMING_SCRIPT = `(()=>{const form=document.querySelector("form");let timer;
const arm=()=>{form.classList.add("arming");clearTimeout(timer);timer=setTimeout(()=>form.classList.remove("arming"),${CONSENT_ARMING_MS})};
addEventListener("focus",arm);addEventListener("pageshow",arm);
document.addEventListener("visibilitychange",()=>{if(!document.hidden)arm()})})();`;
