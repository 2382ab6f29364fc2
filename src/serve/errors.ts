/**
 * Typed errors of the server: each carries the HTTP status it is answered with.
 * Errors of the layers below map to statuses in {@link statusOf}.
 */
import { DTypeError, InputError, KilnError, LimitError, ShapeError } from '../graph/errors.js';

/** An error answered with a given HTTP status and the protocol's `{ "error": message }` body. */
export class HttpError extends KilnError {
  /** HTTP status code. */
  readonly status: number;
  constructor(status: number, code: string, message: string, where?: string) {
    super(code, message, where);
    this.status = status;
  }
}

/** Unknown model, version or route (404). */
export class NotFoundError extends HttpError {
  constructor(message: string, where?: string) { super(404, 'NOT_FOUND', message, where); }
}

/** A malformed request: bad JSON, missing or wrong fields (400). */
export class BadRequestError extends HttpError {
  constructor(message: string, where?: string) { super(400, 'BAD_REQUEST', message, where); }
}

/** A request body over the size limit (413). */
export class PayloadTooLargeError extends HttpError {
  constructor(message: string) { super(413, 'PAYLOAD_TOO_LARGE', message); }
}

/** A client that did not send its whole request within the client time limit (408). */
export class ClientTimeoutError extends HttpError {
  constructor(message: string) { super(408, 'CLIENT_TIMEOUT', message); }
}

/** A request that did not finish within the time limit (504). */
export class RequestTimeoutError extends HttpError {
  constructor(message: string) { super(504, 'TIMEOUT', message); }
}

/** A model that exists but is not ready, or a server that is shutting down (503). */
export class UnavailableError extends HttpError {
  constructor(message: string, where?: string) { super(503, 'UNAVAILABLE', message, where); }
}

/** The HTTP status of any thrown value: its own for HttpError, 400 for bad input, else 500. */
export function statusOf(e: unknown): number {
  if (e instanceof HttpError) return e.status;
  if (e instanceof InputError || e instanceof ShapeError || e instanceof DTypeError || e instanceof LimitError) return 400;
  return 500;
}
