/**
 * Whether the browser says this page load follows one of the dashboard's own forms (Fetch Metadata: a POST on this
 * origin redirected here). The sentence a redirect carries in its query ("Approved: …", "Revoked …") is shown only
 * then: a link crafted elsewhere, opened from a mail or another site, cannot put words on an administrator's screen.
 * A browser that sends no Fetch Metadata shows no sentence; the list below it tells the same.
 */
export const afterOwnForm = (request: Request): boolean => request.headers.get("sec-fetch-site") === "same-origin";
