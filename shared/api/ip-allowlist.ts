import ipaddr from 'ipaddr.js';

type Address = ipaddr.IPv4 | ipaddr.IPv6;
type Range = [Address, number];

/**
 * Parses one allowlist entry (an IPv4/IPv6 address or CIDR) into its canonical text, or undefined
 * when it is not one. IPv4 must be four-part decimal: ipaddr.js would also take `0x7f.1` or `127.1`,
 * which nobody means in an allowlist.
 */
export function normalizeIpEntry(entry: string): string | undefined {
  const range = parseEntry(entry.trim());
  if (!range) return undefined;
  const [address, bits] = range;
  const full = address.kind() === 'ipv4' ? 32 : 128;
  return bits === full ? address.toString() : `${address.toString()}/${bits}`;
}

function parseEntry(entry: string): Range | undefined {
  const slash = entry.indexOf('/');
  const host = slash === -1 ? entry : entry.slice(0, slash);
  const address = parseAddress(host);
  if (!address) return undefined;
  const full = address.kind() === 'ipv4' ? 32 : 128;
  if (slash === -1) return [address, full];
  const bitsText = entry.slice(slash + 1);
  if (!/^\d{1,3}$/.test(bitsText)) return undefined;
  const bits = Number(bitsText);
  return bits <= full ? [address, bits] : undefined;
}

function parseAddress(text: string): Address | undefined {
  if (ipaddr.IPv4.isValidFourPartDecimal(text)) return ipaddr.IPv4.parse(text);
  // No zone ids (fe80::1%eth0): a source address from API Gateway never carries one.
  if (!text.includes('%') && ipaddr.IPv6.isValid(text)) return ipaddr.IPv6.parse(text);
  return undefined;
}

/** An IPv4-mapped IPv6 address (::ffff:1.2.3.4) is the IPv4 address it carries. */
function unmapped(address: Address): Address {
  return address.kind() === 'ipv6' && (address as ipaddr.IPv6).isIPv4MappedAddress()
    ? (address as ipaddr.IPv6).toIPv4Address()
    : address;
}

/**
 * A config's `ip_whitelist`, compiled once. An empty list allows everyone; otherwise the source IP
 * must fall in one entry. IPv4-mapped IPv6 addresses match IPv4 entries (and vice versa).
 */
export class IpAllowlist {
  private readonly ranges: Range[];
  private readonly configured: boolean;

  constructor(entries: readonly string[]) {
    // Fails closed: a list whose entries all failed to parse allows nobody, not everybody.
    this.configured = entries.length > 0;
    this.ranges = entries.flatMap((entry) => {
      const range = parseEntry(entry.trim());
      if (!range) return [];
      const [address, bits] = range;
      // A mapped entry (::ffff:10.0.0.0/104) is the IPv4 range it maps.
      if (address.kind() === 'ipv6' && (address as ipaddr.IPv6).isIPv4MappedAddress() && bits >= 96)
        return [[(address as ipaddr.IPv6).toIPv4Address(), bits - 96] as Range];
      return [range];
    });
  }

  allows(sourceIp: string): boolean {
    if (!this.configured) return true;
    const parsed = parseAddress(sourceIp.trim());
    if (!parsed) return false;
    const address = unmapped(parsed);
    return this.ranges.some(
      ([network, bits]) => network.kind() === address.kind() && address.match(network, bits),
    );
  }
}
