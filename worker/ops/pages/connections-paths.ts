/**
 * Users' upstream connections: the list (GET; an administrator's shows every user's, anyone else's only their own)
 * and its Revoke forms' POST.
 */
export const OPS_CONNECTIONS_PAGE_PATH = "/ops/connections";
export const OPS_CONNECTIONS_REVOKE_PAGE_PATH = "/ops/connections/revoke";
