import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Status, type StatusName } from '../capabilities/abi.js';
import { CAPABILITIES } from '../capabilities/index.js';
import { HOST_CALL_OUTCOMES, describeHostCallCode, hostCallCode, type CapabilityName } from './host-call-codes.js';

describe('host-call codes', () => {
  test('every capability and outcome has a code of its own, and the code names them back', () => {
    const seen = new Set<number>();
    for (const capability of Object.keys(CAPABILITIES) as CapabilityName[]) {
      for (const status of [...(Object.keys(Status) as StatusName[]), undefined]) {
        const code = hostCallCode(capability, status);
        assert.ok(!seen.has(code), `${capability} ${status} shares code ${code}`);
        seen.add(code);
        assert.deepEqual(describeHostCallCode(code), { capability, outcome: status?.toLowerCase() ?? 'error' });
      }
    }
    assert.ok(HOST_CALL_OUTCOMES.includes('not_found') && HOST_CALL_OUTCOMES.includes('access_denied'));
  });

  test('a number that is no code names nothing', () => {
    for (const n of [-1, 0.5, NaN, Object.keys(CAPABILITIES).length * HOST_CALL_OUTCOMES.length]) assert.equal(describeHostCallCode(n), undefined, String(n));
  });
});
