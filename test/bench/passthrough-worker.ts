/**
 * Row B of `npm run bench`: the barest Worker there is on the same wrangler as the edge. Every request goes to
 * TARGET (supergateway, row A) with its method, headers and body unchanged, and the answer comes back as it is.
 */
export default {
  fetch(request: Request, env: { TARGET: string }): Promise<Response> {
    const url = new URL(request.url);
    return fetch(new Request(`${env.TARGET}${url.pathname}${url.search}`, request));
  },
};
