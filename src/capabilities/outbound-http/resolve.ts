/**
 * Where an outbound connection may go, for every capability that opens one (HTTP in fetch.ts,
 * PostgreSQL in capabilities/postgres, Redis in capabilities/redis): the URL's scheme, host and
 * port must match `allowed_outbound_hosts` (policy.ts); the host is resolved once (an IP literal
 * is taken as is) and every address is classified (address.ts): unless the host was allowed
 * *explicitly* (named literally, no wildcard), one non-public address refuses it. The caller
 * connects to the addresses returned and to nothing else, so DNS cannot change between the check
 * and the connection.
 */
import { promises as dns, type LookupAddress } from 'node:dns';
import { isIP } from 'node:net';
import { classifyAddress, ipLiteral, type AddressClass } from './address.js';
import { OutboundError } from './errors.js';
import type { OutboundPolicy } from './policy.js';
import { quote } from './text.js';

/** `dns.promises.lookup` fits. */
export type LookupFn = (hostname: string, options: { all: true }) => Promise<ReadonlyArray<{ address: string; family: number }>>;

export const defaultLookup: LookupFn = (hostname, options) => dns.lookup(hostname, options);

/**
 * Checks `url` against `policy`, then resolves and checks its host (checkedAddresses). Throws
 * OutboundError ACCESS_DENIED (not allowed, or a non-public address under a wildcard) or
 * NETWORK (DNS). `what` starts every message.
 */
export async function checkDestination(url: URL, policy: OutboundPolicy, what: string, lookup: LookupFn, signal: AbortSignal): Promise<LookupAddress[]> {
  const match = policy.matches(url);
  if (!match.allowed) {
    throw new OutboundError(
      'ACCESS_DENIED',
      `${what}: ${url.protocol}//${url.host} is not allowed by allowed_outbound_hosts (scheme, host and port must match an entry)`,
    );
  }
  return checkedAddresses(url.hostname, match.explicit, what, lookup, signal);
}

/**
 * The addresses `hostname` (a URL's hostname: IPv6 in brackets) may be reached at. `explicit`:
 * the policy entry that allowed it names the host literally. `what` names the call in errors.
 * Throws OutboundError: ACCESS_DENIED for a non-public address, NETWORK for a failed lookup.
 */
export async function checkedAddresses(hostname: string, explicit: boolean, what: string, lookup: LookupFn, signal: AbortSignal): Promise<LookupAddress[]> {
  const literal = ipLiteral(hostname);
  let addresses: LookupAddress[];
  if (literal !== undefined) {
    addresses = [{ address: literal, family: isIP(literal) }];
  } else {
    addresses = await resolve(hostname, lookup, signal);
  }
  for (const { address } of addresses) {
    let cls: AddressClass;
    try {
      cls = classifyAddress(address);
    } catch {
      throw new OutboundError('NETWORK', `${what}: DNS lookup of ${hostname} answered ${quote(address)}, not an IP address`);
    }
    if (cls !== 'public' && !explicit) {
      const resolved = literal !== undefined ? `${hostname} is` : `${hostname} resolves to ${address},`;
      throw new OutboundError(
        'ACCESS_DENIED',
        `${what}: ${resolved} ${article(cls)} ${cls} address; only a host named explicitly in allowed_outbound_hosts (not a wildcard) may reach one`,
      );
    }
  }
  return addresses;
}

async function resolve(hostname: string, lookup: LookupFn, signal: AbortSignal): Promise<LookupAddress[]> {
  const name = hostname.endsWith('.') ? hostname.slice(0, -1) : hostname;
  let answer: unknown;
  try {
    answer = await raceAbort(lookup(name, { all: true }), signal);
  } catch (err) {
    if (signal.aborted) throw err;
    throw new OutboundError('NETWORK', `DNS lookup of ${hostname} failed (${errorCode(err) ?? errorMessage(err)})`, { cause: err });
  }
  const list = (Array.isArray(answer) ? answer : [answer]) as unknown[];
  const addresses: LookupAddress[] = [];
  for (const a of list) {
    const address = typeof a === 'string' ? a : (a as { address?: unknown } | null)?.address;
    if (typeof address !== 'string' || isIP(address) === 0) {
      throw new OutboundError('NETWORK', `DNS lookup of ${hostname} answered ${quote(address)}, not an IP address`);
    }
    addresses.push({ address, family: isIP(address) });
  }
  if (addresses.length === 0) throw new OutboundError('NETWORK', `DNS lookup of ${hostname} found no addresses`);
  return addresses;
}

export function errorCode(err: unknown): string | undefined {
  if (err instanceof AggregateError && err.errors.length > 0) return errorCode(err.errors[0]);
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

export function errorMessage(err: unknown): string {
  if (err instanceof AggregateError && err.errors.length > 0) return errorMessage(err.errors[0]);
  return err instanceof Error ? err.message : String(err);
}

function raceAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

function article(cls: AddressClass): string {
  return cls === 'unspecified' ? 'an' : 'a';
}
