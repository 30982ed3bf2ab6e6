/**
 * Hop-by-hop headers (RFC 9110, 7.6.1; RFC 3875, 6.3): they describe one HTTP connection, which the web server
 * or the gateway owns, so neither a CGI response nor a gateway passes them on. Lower-case names.
 */
export const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection', 'keep-alive', 'transfer-encoding', 'proxy-connection', 'te', 'trailer', 'upgrade',
]);
