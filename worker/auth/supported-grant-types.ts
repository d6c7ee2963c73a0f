/** The grants the edge's token endpoint serves to registered clients. */
const SUPPORTED_GRANT_TYPES = ["authorization_code", "refresh_token"];

/**
 * Registration metadata with the grant types the edge does not serve dropped, as RFC 7591 §3.2.1 allows the
 * server to do (VS Code of the 1.101 era also asks for the device-code grant, and used to be refused whole).
 * A request that lists only unsupported grants is left as it is, for the library to refuse.
 */
export function withSupportedGrantTypes(metadata: Record<string, unknown>): Record<string, unknown> {
  const requested = metadata.grant_types;
  if (!Array.isArray(requested)) return metadata;
  const supported = requested.filter((grant) => typeof grant === "string" && SUPPORTED_GRANT_TYPES.includes(grant));
  if (supported.length === 0 || supported.length === requested.length) return metadata;
  return { ...metadata, grant_types: supported };
}
