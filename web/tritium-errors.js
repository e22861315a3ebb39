// Errors: every error tritium throws is a TritiumError with a stable `code`. This module has no
// dependencies, so every other module (the Worker proxy and the worker included) can use it.

/**
 * Every error tritium throws. `code` is stable and machine-readable: the core's codes
 * (E_BAD_MAGIC, E_TRUNCATED, E_UNSUPPORTED_VERSION, E_OUT_OF_BOUNDS, E_OVERFLOW, E_LIMIT,
 * E_UNSUPPORTED_TENSOR_TYPE, E_MISSING_KEY, E_TOKENIZER, E_INVALID_ARGUMENT, ...) and the
 * facade's (E_FETCH, E_ABORTED, E_BACKEND_UNAVAILABLE, E_FREED, E_WASM_INIT, E_PANIC).
 */
export class TritiumError extends Error {
  constructor(code, message, options) {
    super(message, options);
    this.name = 'TritiumError';
    this.code = code;
  }
}

/** The E_ABORTED error of an aborted AbortSignal (its reason, when it has one, as the cause). */
export function abortError(signal) {
  const reason = signal && signal.reason;
  const detail = reason && reason.message ? `: ${reason.message}` : '';
  return new TritiumError('E_ABORTED', `aborted${detail}`, { cause: reason });
}

/** An error as `{ code, message }`, to post from a worker (a RangeError there: out of memory). */
export function errorToData(e) {
  return {
    code: e && typeof e.code === 'string' ? e.code : e instanceof RangeError ? 'E_OUT_OF_MEMORY' : 'E_INTERNAL',
    message: e && e.message ? e.message : String(e),
  };
}

/** The TritiumError of `{ code, message }` posted by a worker. */
export function errorFromData(e) {
  return new TritiumError((e && e.code) || 'E_INTERNAL', (e && e.message) || String(e));
}
