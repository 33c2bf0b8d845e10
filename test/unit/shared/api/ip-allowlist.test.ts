import { describe, expect, it } from 'vitest';
import { IpAllowlist, normalizeIpEntry } from '../../../../shared/api/ip-allowlist';

describe('IpAllowlist', () => {
  it('allows everyone when the list is empty', () => {
    expect(new IpAllowlist([]).allows('203.0.113.9')).toBe(true);
  });

  it('matches single IPv4 addresses exactly', () => {
    const list = new IpAllowlist(['192.168.1.1']);
    expect(list.allows('192.168.1.1')).toBe(true);
    expect(list.allows('192.168.1.2')).toBe(false);
  });

  it('matches IPv4 CIDRs on their boundaries', () => {
    const list = new IpAllowlist(['10.0.0.0/8', '172.16.0.0/12']);
    expect(list.allows('10.255.255.255')).toBe(true);
    expect(list.allows('11.0.0.0')).toBe(false);
    expect(list.allows('172.31.255.254')).toBe(true);
    expect(list.allows('172.32.0.1')).toBe(false);
  });

  it('matches IPv6 addresses and CIDRs whatever their spelling', () => {
    const list = new IpAllowlist(['2001:db8::/32', '2a00:1450:4001:81b::200e']);
    expect(list.allows('2001:0db8:0000:0000:0000:0000:0000:0001')).toBe(true);
    expect(list.allows('2001:db9::1')).toBe(false);
    expect(list.allows('2a00:1450:4001:81b:0:0:0:200e')).toBe(true);
  });

  it('treats an IPv4-mapped IPv6 source as the IPv4 address it carries', () => {
    const list = new IpAllowlist(['198.51.100.0/24']);
    expect(list.allows('::ffff:198.51.100.7')).toBe(true);
    expect(list.allows('::ffff:c633:6407')).toBe(true);
    expect(list.allows('::ffff:198.51.101.7')).toBe(false);
  });

  it('treats an IPv4-mapped IPv6 entry as the IPv4 range it maps', () => {
    const list = new IpAllowlist(['::ffff:198.51.100.0/120']);
    expect(list.allows('198.51.100.200')).toBe(true);
    expect(list.allows('198.51.99.200')).toBe(false);
  });

  it('never matches an IPv4 source against an IPv6 range or the reverse', () => {
    expect(new IpAllowlist(['::/0']).allows('1.2.3.4')).toBe(false);
    expect(new IpAllowlist(['0.0.0.0/0']).allows('2001:db8::1')).toBe(false);
  });

  it('refuses unparsable sources and fails closed when no entry parses', () => {
    expect(new IpAllowlist(['10.0.0.0/8']).allows('')).toBe(false);
    expect(new IpAllowlist(['10.0.0.0/8']).allows('not-an-ip')).toBe(false);
    expect(new IpAllowlist(['garbage']).allows('10.0.0.1')).toBe(false);
  });
});

describe('normalizeIpEntry', () => {
  it.each([
    ['192.168.1.1', '192.168.1.1'],
    [' 10.0.0.0/8 ', '10.0.0.0/8'],
    ['10.0.0.1/32', '10.0.0.1'],
    ['2001:0DB8::/32', '2001:db8::/32'],
    ['::1', '::1'],
  ])('keeps %j as %j', (entry, normalized) => {
    expect(normalizeIpEntry(entry)).toBe(normalized);
  });

  it.each([
    'not-an-ip',
    '0x7f.1',
    '127.1',
    '256.1.1.1',
    '10.0.0.0/33',
    '2001:db8::/129',
    '10.0.0.0/',
    '10.0.0.0/a',
    'fe80::1%eth0',
    '',
  ])('refuses %j', (entry) => {
    expect(normalizeIpEntry(entry)).toBeUndefined();
  });
});
