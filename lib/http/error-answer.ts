/**
 * The answer to a request whose response failed before its head went out, for the application server (a
 * handler that threw) and the PHP gateway (PHP's answer that cannot be passed on).
 */
import { STATUS_CODES, type ServerResponse } from 'node:http';

/**
 * Replaces a response not yet sent with a short plain-text error: `status` with node's reason phrase, `text`
 * as the body, and none of `dropHeaders` (what the failed response had set). A response whose head is out can
 * only be cut, so it is destroyed; so is one node still refuses to send (a header it cannot write): this never
 * throws.
 */
export function answerWithError(res: ServerResponse, status: number, text: string, dropHeaders: Iterable<string>): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  try {
    for (const name of dropHeaders) res.removeHeader(name);
    res.statusCode = status;
    res.statusMessage = STATUS_CODES[status] ?? '';
    res.setHeader('Content-Type', 'text/plain; charset=utf-8');
    res.end(`${text}\n`);
  } catch {
    res.destroy();
  }
}
