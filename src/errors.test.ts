import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { ERROR_CATALOGUE, VergeError, isVergeError, type Blame, type ErrorCode } from './errors.js';

const entries = Object.entries(ERROR_CATALOGUE) as Array<[ErrorCode, { status: number; blame: Blame; summary: string }]>;

describe('ERROR_CATALOGUE', () => {
  test('is not empty', () => {
    assert.ok(entries.length > 0);
  });

  test('every code is UPPER_SNAKE', () => {
    for (const [code] of entries) assert.match(code, /^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$/, code);
  });

  test('every entry has a known blame and a summary ending with a full stop', () => {
    const blames = new Set<Blame>(['client', 'guest', 'host', 'config']);
    for (const [code, entry] of entries) {
      assert.ok(blames.has(entry.blame), `${code}: blame ${entry.blame}`);
      assert.ok(entry.summary.length > 10, `${code}: summary`);
      assert.match(entry.summary, /\.$/, `${code}: the summary ends with a full stop`);
    }
  });

  test("a client's error answers with a 4xx status", () => {
    for (const [code, entry] of entries.filter(([, e]) => e.blame === 'client')) {
      assert.ok(entry.status >= 400 && entry.status <= 499, `${code}: ${entry.status}`);
    }
  });

  test("a guest's or the host's error answers with a 5xx status", () => {
    for (const [code, entry] of entries.filter(([, e]) => e.blame === 'guest' || e.blame === 'host')) {
      assert.ok(entry.status >= 500 && entry.status <= 599, `${code}: ${entry.status}`);
    }
  });

  test('a configuration error answers no request, so has status 0', () => {
    for (const [code, entry] of entries.filter(([, e]) => e.blame === 'config')) {
      assert.equal(entry.status, 0, code);
    }
  });

  test('every status is 0 or a valid HTTP error status', () => {
    for (const [code, entry] of entries) {
      assert.ok(Number.isInteger(entry.status), code);
      assert.ok(entry.status === 0 || (entry.status >= 400 && entry.status <= 599), `${code}: ${entry.status}`);
    }
  });

  test('has the codes the rest of Verge relies on, with their statuses', () => {
    const expected: Partial<Record<ErrorCode, number>> = {
      NOT_FOUND: 404,
      BAD_REQUEST: 400,
      PAYLOAD_TOO_LARGE: 413,
      QUEUE_FULL: 503,
      DEADLINE_EXCEEDED: 504,
      GUEST_BAD_RESPONSE: 502,
      RESPONSE_TOO_LARGE: 502,
      MANIFEST_INVALID: 0,
      MODULE_INVALID: 0,
      MODULE_MEMORY: 0,
    };
    for (const [code, status] of Object.entries(expected)) {
      assert.equal(ERROR_CATALOGUE[code as ErrorCode].status, status, code);
    }
  });
});

describe('VergeError', () => {
  test('carries its code, message, name and the status and blame of its catalogue entry', () => {
    for (const [code, entry] of entries) {
      const err = new VergeError(code, `something about ${code}`);
      assert.ok(err instanceof Error);
      assert.equal(err.name, 'VergeError');
      assert.equal(err.code, code);
      assert.equal(err.message, `something about ${code}`);
      assert.equal(err.status, entry.status);
      assert.equal(err.blame, entry.blame);
      assert.ok(err.stack);
    }
  });

  test('keeps a cause', () => {
    const cause = new Error('low level');
    const err = new VergeError('INTERNAL', 'wrapped', { cause });
    assert.equal(err.cause, cause);
  });
});

describe('isVergeError', () => {
  test('recognises a VergeError with or without a code to compare', () => {
    const err = new VergeError('NOT_FOUND', 'nope');
    assert.equal(isVergeError(err), true);
    assert.equal(isVergeError(err, 'NOT_FOUND'), true);
    assert.equal(isVergeError(err, 'BAD_REQUEST'), false);
  });

  test('rejects other errors and values, even when they look alike', () => {
    const lookalike = Object.assign(new Error('x'), { code: 'NOT_FOUND', name: 'VergeError' });
    assert.equal(isVergeError(lookalike), false);
    assert.equal(isVergeError(new Error('x')), false);
    assert.equal(isVergeError(undefined), false);
    assert.equal(isVergeError(null), false);
    assert.equal(isVergeError({ code: 'NOT_FOUND' }, 'NOT_FOUND'), false);
  });
});
