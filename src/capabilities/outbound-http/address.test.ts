import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { classifyAddress, parseIPv6, type AddressClass } from './address.js';

function assertClasses(cases: Record<string, AddressClass>): void {
  for (const [ip, expected] of Object.entries(cases)) {
    assert.equal(classifyAddress(ip), expected, ip);
  }
}

describe('classifyAddress', () => {
  test('public IPv4 and IPv6 addresses are public', () => {
    assertClasses({
      '93.184.216.34': 'public',
      '8.8.8.8': 'public',
      '1.1.1.1': 'public',
      '172.32.0.1': 'public',
      '100.128.0.1': 'public',
      '2606:4700:4700::1111': 'public',
      '2001:4860:4860::8888': 'public',
    });
  });

  test('IPv4 special ranges get their class', () => {
    assertClasses({
      '127.0.0.1': 'loopback',
      '127.255.255.254': 'loopback',
      '10.1.2.3': 'private',
      '172.16.0.1': 'private',
      '172.31.255.255': 'private',
      '192.168.1.1': 'private',
      '169.254.0.1': 'link-local',
      '169.254.169.254': 'metadata',
      '100.64.0.1': 'cgnat',
      '100.100.100.200': 'cgnat',
      '0.0.0.0': 'unspecified',
      '0.1.2.3': 'unspecified',
      '224.0.0.1': 'multicast',
      '239.255.255.250': 'multicast',
      '255.255.255.255': 'reserved',
      '240.0.0.1': 'reserved',
      '192.0.2.1': 'reserved',
      '198.51.100.7': 'reserved',
      '203.0.113.9': 'reserved',
      '198.18.0.1': 'reserved',
    });
  });

  test('IPv6 special ranges get their class', () => {
    assertClasses({
      '::': 'unspecified',
      '::1': 'loopback',
      'fe80::1': 'link-local',
      'fe80::1%eth0': 'link-local',
      'febf::1': 'link-local',
      'fc00::1': 'unique-local',
      'fd12:3456:789a::1': 'unique-local',
      'fd00:ec2::254': 'metadata',
      'ff02::1': 'multicast',
      '2001:db8::1': 'reserved',
      '2001:0:4136:e378:8000:63bf:3fff:fdd2': 'reserved',
      '100::1': 'reserved',
      '4000::1': 'reserved',
    });
  });

  test('IPv6 addresses that carry an IPv4 address are classified by it', () => {
    assertClasses({
      '::ffff:127.0.0.1': 'loopback',
      '::ffff:7f00:1': 'loopback',
      '::ffff:169.254.169.254': 'metadata',
      '::ffff:a9fe:a9fe': 'metadata',
      '::FFFF:A9FE:A9FE': 'metadata',
      '0:0:0:0:0:ffff:10.0.0.1': 'private',
      '::ffff:0:10.0.0.1': 'private',
      '::127.0.0.1': 'loopback',
      '::a9fe:a9fe': 'metadata',
      '64:ff9b::169.254.169.254': 'metadata',
      '64:ff9b::7f00:1': 'loopback',
      '64:ff9b::5db8:d822': 'public',
      '64:ff9b:1::1': 'private',
      '2002:7f00:1::1': 'loopback',
      '2002:5db8:d822::1': 'public',
      '::ffff:93.184.216.34': 'public',
    });
  });

  test('brackets around an IPv6 address are accepted', () => {
    assert.equal(classifyAddress('[::1]'), 'loopback');
  });

  test('a string that is not an IP address is a TypeError', () => {
    for (const bad of ['localhost', '127.1', '2852039166', '', '1.2.3.4.5', '::ffff:1.2.3']) {
      assert.throws(() => classifyAddress(bad), TypeError, bad);
    }
  });

  test('parseIPv6 expands every spelling to eight groups', () => {
    assert.deepEqual(parseIPv6('::'), [0, 0, 0, 0, 0, 0, 0, 0]);
    assert.deepEqual(parseIPv6('::1'), [0, 0, 0, 0, 0, 0, 0, 1]);
    assert.deepEqual(parseIPv6('1::'), [1, 0, 0, 0, 0, 0, 0, 0]);
    assert.deepEqual(parseIPv6('1:2:3:4:5:6:7:8'), [1, 2, 3, 4, 5, 6, 7, 8]);
    assert.deepEqual(parseIPv6('::ffff:1.2.3.4'), [0, 0, 0, 0, 0, 0xffff, 0x0102, 0x0304]);
    assert.deepEqual(parseIPv6('1:2:3:4:5:6:1.2.3.4'), [1, 2, 3, 4, 5, 6, 0x0102, 0x0304]);
    assert.equal(parseIPv6('1.2.3.4'), undefined);
  });
});
