/**
 * The fields of a posted form; empty when the body is not a form (another content type, a multipart body without its
 * boundary, a truncated one): a page's form always is one, so what is not reads as a form without its fields, and is
 * refused for what it lacks (its CSRF token, its handle) rather than failing the request with a 500.
 */
export const postedForm = (request: Request): Promise<FormData> => request.formData().catch(() => new FormData());
