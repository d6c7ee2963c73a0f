/**
 * Whether a browser sent this request on a page's behalf in a way no one can read the answer of: an image, a no-cors
 * fetch or a frame (`Sec-Fetch-*`, which pages cannot set). A page of any site can send those by the hundred, so the
 * endpoints limited per address refuse them before they count, or one open tab spends an office's budget (s24 hunt
 * pages F13). `navigation`: the endpoint is a page a person opens (`/authorize`), so only a top-level document may ask;
 * otherwise it is an API (`/oauth/token`, `/register`), which only a script's request (destination empty) may ask.
 * Requests without these headers (apps, command-line clients, older browsers) are not concerned.
 */
export function unreadableCrossSite(request: Request, navigation: boolean): boolean {
  if (request.headers.get("sec-fetch-mode") === "no-cors") return true;
  const dest = request.headers.get("sec-fetch-dest");
  if (dest === null) return false;
  // An API endpoint is asked by a script (destination empty) or an app; a form posted into a frame or a tab is neither.
  return navigation ? dest !== "document" : dest !== "empty";
}
