import assert from 'node:assert/strict';
import { ServiceError } from '../service-error.js';

/**
 * For `assert.rejects`: the call failed with the ServiceError `code` of `kind` (the API's HTTP class), and the
 * error says what to do next — every refusal of the service layer does.
 */
export function rejectsWithServiceError(code: string, kind?: string): (error: unknown) => boolean {
  return (error) => {
    assert.ok(error instanceof ServiceError, `expected a ServiceError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    if (kind !== undefined) assert.equal(error.kind, kind);
    assert.ok(error.hint.length > 0, 'every error says what to do next');
    return true;
  };
}
