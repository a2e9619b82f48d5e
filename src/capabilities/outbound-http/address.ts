/**
 * Classifies an IP address for the outbound SSRF guard. Anything but 'public' is refused unless
 * the host was allowed explicitly (see fetch.ts). IPv6 forms that carry an IPv4 address
 * (IPv4-mapped ::ffff:a.b.c.d, IPv4-translated ::ffff:0:a.b.c.d, IPv4-compatible ::a.b.c.d,
 * NAT64 64:ff9b::/96, 6to4 2002::/16) are classified by the IPv4 address they carry, so
 * `::ffff:169.254.169.254` and `::ffff:a9fe:a9fe` are both 'metadata'.
 *
 * Parsing is done here rather than with net.BlockList so that every embedded form is handled the
 * same way and the class can be named in the error message.
 */
import { isIPv4, isIPv6 } from 'node:net';

export type AddressClass =
  | 'public'
  | 'loopback'
  | 'private'
  | 'link-local'
  | 'cgnat'
  | 'unique-local'
  | 'metadata'
  | 'unspecified'
  | 'multicast'
  | 'reserved';

/** [first address as a 32-bit number, prefix length, class]; the first match wins. */
const IPV4_RANGES: ReadonlyArray<readonly [number, number, AddressClass]> = [
  [v4('169.254.169.254'), 32, 'metadata'], // AWS, GCP, Azure, OpenStack, Oracle instance metadata
  [v4('0.0.0.0'), 8, 'unspecified'], // "this network"; 0.0.0.0 reaches localhost on Linux
  [v4('10.0.0.0'), 8, 'private'],
  [v4('100.64.0.0'), 10, 'cgnat'], // includes Alibaba's metadata 100.100.100.200
  [v4('127.0.0.0'), 8, 'loopback'],
  [v4('169.254.0.0'), 16, 'link-local'],
  [v4('172.16.0.0'), 12, 'private'],
  [v4('192.0.0.0'), 24, 'reserved'], // IETF protocol assignments
  [v4('192.0.2.0'), 24, 'reserved'], // TEST-NET-1
  [v4('192.88.99.0'), 24, 'reserved'], // 6to4 relay anycast (deprecated)
  [v4('192.168.0.0'), 16, 'private'],
  [v4('198.18.0.0'), 15, 'reserved'], // benchmarking
  [v4('198.51.100.0'), 24, 'reserved'], // TEST-NET-2
  [v4('203.0.113.0'), 24, 'reserved'], // TEST-NET-3
  [v4('224.0.0.0'), 4, 'multicast'],
  [v4('240.0.0.0'), 4, 'reserved'], // including 255.255.255.255
];

function v4(dotted: string): number {
  const parts = dotted.split('.').map(Number);
  return (((parts[0]! << 24) >>> 0) + (parts[1]! << 16) + (parts[2]! << 8) + parts[3]!) >>> 0;
}

function classifyV4(n: number): AddressClass {
  for (const [base, prefix, cls] of IPV4_RANGES) {
    const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
    if (((n & mask) >>> 0) === base) return cls;
  }
  return 'public';
}

/** Eight 16-bit groups, or undefined when `ip` is not an IPv6 address. */
export function parseIPv6(ip: string): number[] | undefined {
  if (!isIPv6(ip)) return undefined;
  let text = ip;
  const lastColon = text.lastIndexOf(':');
  const last = text.slice(lastColon + 1);
  if (last.includes('.')) {
    // A dotted IPv4 tail is the last two groups.
    const n = v4(last);
    text = `${text.slice(0, lastColon + 1)}${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}`;
  }
  const halves = text.split('::');
  const groups = (s: string | undefined): number[] =>
    s === undefined || s === '' ? [] : s.split(':').filter((g) => g !== '').map((g) => parseInt(g, 16));
  const head = groups(halves[0]);
  const rest = groups(halves[1]);
  const fill = halves.length === 2 ? new Array<number>(Math.max(0, 8 - head.length - rest.length)).fill(0) : [];
  const all = [...head, ...fill, ...rest];
  return all.length === 8 && all.every((g) => Number.isInteger(g) && g >= 0 && g <= 0xffff) ? all : undefined;
}

function classifyV6(g: number[]): AddressClass {
  const [g0, g1, g2, g3, g4, g5, g6, g7] = g as [number, number, number, number, number, number, number, number];
  const embedded = (): number => ((g6 << 16) >>> 0) + g7;
  const zeroTo = (n: number): boolean => g.slice(0, n).every((x) => x === 0);

  if (zeroTo(8)) return 'unspecified';
  if (zeroTo(7) && g7 === 1) return 'loopback';
  if (zeroTo(5) && g5 === 0xffff) return classifyV4(embedded()); // ::ffff:a.b.c.d, IPv4-mapped
  if (zeroTo(4) && g4 === 0xffff && g5 === 0) return classifyV4(embedded()); // ::ffff:0:a.b.c.d, IPv4-translated
  if (zeroTo(6)) return classifyV4(embedded()); // ::a.b.c.d, IPv4-compatible (deprecated)
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0) return classifyV4(embedded()); // NAT64
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 1) return 'private'; // 64:ff9b:1::/48, local-use NAT64
  if (g0 === 0xfd00 && g1 === 0x0ec2 && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0 && g6 === 0 && g7 === 0x254) return 'metadata'; // AWS IMDS over IPv6
  if ((g0 & 0xfe00) === 0xfc00) return 'unique-local';
  if ((g0 & 0xffc0) === 0xfe80) return 'link-local';
  if ((g0 & 0xffc0) === 0xfec0) return 'private'; // site-local (deprecated)
  if ((g0 & 0xff00) === 0xff00) return 'multicast';
  if (g0 === 0x2002) return classifyV4(((g1 << 16) >>> 0) + g2); // 6to4 carries an IPv4 address
  if (g0 === 0x2001 && g1 === 0) return 'reserved'; // Teredo
  if (g0 === 0x2001 && g1 === 0x0db8) return 'reserved'; // documentation
  if (g0 === 0x2001 && ((g1 & 0xfff0) === 0x0010 || (g1 & 0xfff0) === 0x0020)) return 'reserved'; // ORCHID
  if (g0 === 0x3fff && (g1 & 0xf000) === 0) return 'reserved'; // documentation (3fff::/20)
  if (g0 === 0x0100 && g1 === 0 && g2 === 0 && g3 === 0) return 'reserved'; // discard-only
  if ((g0 & 0xe000) === 0x2000) return 'public'; // global unicast 2000::/3
  return 'reserved'; // everything not allocated for global unicast
}

/**
 * The class of an IPv4 or IPv6 address (an IPv6 zone such as `%eth0` is ignored; brackets are
 * accepted). Throws a TypeError when `ip` is not an IP address.
 */
export function classifyAddress(ip: string): AddressClass {
  let text = ip;
  if (text.startsWith('[') && text.endsWith(']')) text = text.slice(1, -1);
  const zone = text.indexOf('%');
  if (zone !== -1 && text.includes(':')) text = text.slice(0, zone);
  if (isIPv4(text)) return classifyV4(v4(text));
  const groups = parseIPv6(text);
  if (groups) return classifyV6(groups);
  throw new TypeError(`not an IP address: ${JSON.stringify(ip)}`);
}

/** An IP address (v4 or v6, no brackets) without a zone, or undefined when `host` is a name. */
export function ipLiteral(host: string): string | undefined {
  const text = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  return isIPv4(text) || isIPv6(text) ? text : undefined;
}
