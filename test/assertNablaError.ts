// Shared by the tests: fn must throw a NablaError whose message contains every given fact.
import assert from 'node:assert/strict';
import { NablaError } from '../packages/nabla/src/errors.ts';

export function assertNablaError(fn: () => unknown, facts: string[]): NablaError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof NablaError, `expected a NablaError, got ${String(caught)}`);
  for (const fact of facts) {
    assert.ok(caught.message.includes(fact), `message ${JSON.stringify(caught.message)} lacks ${JSON.stringify(fact)}`);
  }
  return caught;
}
