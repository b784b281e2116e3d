/**
 * Every answer the webhook gives without judging a review, as one registry of coded errors. Each is sent as
 * `{"error": message, "code": CODE}` with its status, logged once and counted by status.
 */
import createError from '@fastify/error';

export const NotAdmissionReview = createError('MTLS_GUARD_NOT_ADMISSION_REVIEW', '%s', 400);
export const MalformedHttp = createError('MTLS_GUARD_MALFORMED_HTTP', '%s', 400);
export const RouteNotFound = createError('MTLS_GUARD_ROUTE_NOT_FOUND', 'no route for %s %s', 404);
export const MethodNotAllowed = createError('MTLS_GUARD_METHOD_NOT_ALLOWED', 'method not allowed: use %s', 405);
export const RequestTimeout = createError('MTLS_GUARD_REQUEST_TIMEOUT', 'the request took too long to arrive', 408);
export const BodyTooLarge = createError('MTLS_GUARD_BODY_TOO_LARGE', 'request body is larger than %s bytes', 413);
export const HeadersTooLarge = createError('MTLS_GUARD_HEADERS_TOO_LARGE', 'request headers are too large', 431);
export const Internal = createError('MTLS_GUARD_INTERNAL', 'internal error', 500);
export const Busy = createError('MTLS_GUARD_BUSY', '%s', 503);
export const NotJudged = createError('MTLS_GUARD_NOT_JUDGED', '%s', 503);
/** The client went away before its request was complete: there is no one to answer, and nothing was refused. */
export const ClientGone = createError('MTLS_GUARD_CLIENT_GONE', 'the client went away before its request was complete', 499);

export interface CodedError {
  code: string;
  statusCode: number;
  message: string;
}

/** The HTTP parser's own errors (Node's `clientError`), as ours. */
export function clientErrorOf(nodeCode: string | undefined): CodedError {
  switch (nodeCode) {
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return new RequestTimeout();
    case 'HPE_HEADER_OVERFLOW':
      return new HeadersTooLarge();
    case 'HPE_INVALID_EOF_STATE':
      return new MalformedHttp('the request ended before its body was complete');
    default:
      return new MalformedHttp('malformed HTTP request');
  }
}

export function errorBody(error: CodedError): { error: string; code: string } {
  return { error: error.message, code: error.code };
}
