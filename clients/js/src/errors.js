/**
 * Error codes of the shiftformer protocol (PROTOCOL.md section 8) and the error type of this client.
 *
 * The numbers are the stable values of Java's org.shiftformer.api.ErrorCode: never reused or
 * renumbered, new ones only appended.
 */

/** Name -> stable number. */
export const ErrorCode = Object.freeze({
  INVALID_ARGUMENT: 1,
  INVALID_ARTIFACT: 2,
  UNSUPPORTED_VERSION: 3,
  BACKEND_UNAVAILABLE: 4,
  BACKEND_FAILURE: 5,
  MODEL_LIMIT_EXCEEDED: 6,
  DEADLINE_EXCEEDED: 7,
  CANCELLED: 8,
  OVERLOADED: 9,
  PROTOCOL_ERROR: 10,
  UNKNOWN_BACKEND: 11,
  INTERNAL: 12,
  IO_ERROR: 13,
  UNAUTHENTICATED: 14,
  MODEL_MISMATCH: 15,
});

const NAMES = new Map(Object.entries(ErrorCode).map(([name, number]) => [number, name]));

/**
 * The name of a code number. A code this client does not know (a newer server) is treated as
 * INTERNAL, as PROTOCOL.md section 8 asks.
 */
export function codeName(number) {
  return NAMES.get(number) ?? 'INTERNAL';
}

/**
 * An error of the protocol or of this client. `code` is the code's name (e.g. 'INVALID_ARGUMENT',
 * Node style), `codeNumber` its stable number (the wire value; for a code unknown to this client the
 * number the server sent, while `code` says 'INTERNAL'). `requestId` is the translate request's id
 * (a bigint) when the error is about one request, undefined for a connection-level error.
 */
export class ShiftformerError extends Error {
  constructor(codeNumber, message, { requestId, cause } = {}) {
    const name = codeName(codeNumber);
    const known = NAMES.has(codeNumber);
    super(`[${name}${known ? '' : ` (unknown code ${codeNumber})`}] ${message}`, cause ? { cause } : undefined);
    this.name = 'ShiftformerError';
    this.code = name;
    this.codeNumber = codeNumber;
    this.requestId = requestId;
    /** The message without the code prefix, as the server (or this client) wrote it. */
    this.detail = message;
  }
}

/**
 * The terminal outcome of a translate request that its own Cancel stopped (a `Cancelled` frame).
 * Code CANCELLED like a server-side cancellation, but `byClient` is true and `tokenCount` tells how
 * many Token frames the server sent before it stopped.
 */
export class CancelledError extends ShiftformerError {
  constructor(requestId, tokenCount) {
    super(ErrorCode.CANCELLED, `request ${requestId} was cancelled by the client after ${tokenCount} token(s)`,
      { requestId });
    this.name = 'CancelledError';
    this.byClient = true;
    this.tokenCount = tokenCount;
  }
}
