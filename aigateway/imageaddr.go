package aigateway

import "net/netip"

// specialRange is one entry of IANA's special-purpose address registries
// (https://www.iana.org/assignments/iana-ipv4-special-registry and
// iana-ipv6-special-registry), plus the few blocks outside them that are not
// global unicast either (multicast, site-local). None of them is an address
// an image on the public internet lives at.
type specialRange struct {
	prefix netip.Prefix
	name   string
	// private marks the ranges an operator may open with image_fetch's
	// allow_private_networks: networks of their own (RFC 1918, shared
	// address space, unique-local), never loopback or link-local (where
	// cloud metadata services answer).
	private bool
	// embedsIPv4 marks NAT64's well-known prefix: the last 32 bits are an
	// IPv4 address, judged as such.
	embedsIPv4 bool
}

func special(prefix, name string) specialRange {
	return specialRange{prefix: netip.MustParsePrefix(prefix), name: name}
}

func privateRange(prefix, name string) specialRange {
	r := special(prefix, name)
	r.private = true
	return r
}

// specialIPv4 is IANA's IPv4 special-purpose registry, with multicast.
// Entries the registry marks globally reachable (PCP and TURN anycast,
// AS112, AMT) are refused too: no image is served from them.
var specialIPv4 = []specialRange{
	special("0.0.0.0/8", "this network (RFC 791)"),
	privateRange("10.0.0.0/8", "private-use (RFC 1918)"),
	privateRange("100.64.0.0/10", "shared address space, carrier-grade NAT (RFC 6598)"),
	special("127.0.0.0/8", "loopback (RFC 1122)"),
	special("169.254.0.0/16", "link-local, cloud metadata (RFC 3927)"),
	privateRange("172.16.0.0/12", "private-use (RFC 1918)"),
	special("192.0.0.0/24", "IETF protocol assignments (RFC 6890)"),
	special("192.0.2.0/24", "documentation TEST-NET-1 (RFC 5737)"),
	special("192.31.196.0/24", "AS112-v4 (RFC 7535)"),
	special("192.52.193.0/24", "AMT (RFC 7450)"),
	special("192.88.99.0/24", "deprecated 6to4 relay anycast (RFC 7526)"),
	privateRange("192.168.0.0/16", "private-use (RFC 1918)"),
	special("192.175.48.0/24", "direct delegation AS112 service (RFC 7534)"),
	special("198.18.0.0/15", "benchmarking (RFC 2544)"),
	special("198.51.100.0/24", "documentation TEST-NET-2 (RFC 5737)"),
	special("203.0.113.0/24", "documentation TEST-NET-3 (RFC 5737)"),
	special("224.0.0.0/4", "multicast (RFC 5771)"),
	special("240.0.0.0/4", "reserved (RFC 1112)"),
	special("255.255.255.255/32", "limited broadcast (RFC 919)"),
}

// specialIPv6 is IANA's IPv6 special-purpose registry, with multicast and
// site-local. Only 2000::/3 is global unicast at all (see allowedAddr);
// the entries outside it are listed so that each has a name and a test.
var specialIPv6 = []specialRange{
	special("::/128", "unspecified (RFC 4291)"),
	special("::1/128", "loopback (RFC 4291)"),
	special("::ffff:0:0/96", "IPv4-mapped (RFC 4291)"),
	special("::/96", "deprecated IPv4-compatible (RFC 4291)"),
	{prefix: netip.MustParsePrefix("64:ff9b::/96"), name: "NAT64 well-known prefix (RFC 6052)", embedsIPv4: true},
	special("64:ff9b:1::/48", "NAT64 local-use (RFC 8215)"),
	special("100::/64", "discard-only (RFC 6666)"),
	special("100:0:0:1::/64", "dummy prefix (RFC 9780)"),
	special("2001::/23", "IETF protocol assignments: Teredo, benchmarking, ORCHID (RFC 2928)"),
	special("2001:db8::/32", "documentation (RFC 3849)"),
	special("2002::/16", "6to4, deprecated; embeds an IPv4 address (RFC 3056, RFC 7526)"),
	special("2620:4f:8000::/48", "direct delegation AS112 service (RFC 7534)"),
	special("3fff::/20", "documentation (RFC 9637)"),
	special("5f00::/16", "segment routing SIDs (RFC 9602)"),
	privateRange("fc00::/7", "unique-local (RFC 4193)"),
	special("fe80::/10", "link-local (RFC 4291)"),
	special("fec0::/10", "deprecated site-local (RFC 3879)"),
	special("ff00::/8", "multicast (RFC 4291)"),
}

// globalUnicastIPv6 is the only IPv6 block IANA allocates global unicast
// addresses from.
var globalUnicastIPv6 = netip.MustParsePrefix("2000::/3")

// rangeOf returns the special-purpose range addr falls in, the most
// specific one when ranges nest (::1 in ::/96).
func rangeOf(addr netip.Addr) (specialRange, bool) {
	table := specialIPv4
	if addr.Is6() {
		table = specialIPv6
	}
	var found specialRange
	ok := false
	for _, r := range table {
		if r.prefix.Contains(addr) && (!ok || r.prefix.Bits() > found.prefix.Bits()) {
			found, ok = r, true
		}
	}
	return found, ok
}

// allowedAddr reports whether an image may be fetched from addr: a global
// unicast address, or with allowPrivate also one of the private ranges.
// An IPv4-mapped address and a NAT64 one are judged by the IPv4 address
// they carry; the zone of a scoped address is ignored (only link-local
// addresses have one, and those are refused).
func allowedAddr(addr netip.Addr, allowPrivate bool) bool {
	if !addr.IsValid() {
		return false
	}
	addr = addr.WithZone("").Unmap()
	r, isSpecial := rangeOf(addr)
	if isSpecial && r.embedsIPv4 {
		b := addr.As16()
		return allowedAddr(netip.AddrFrom4([4]byte(b[12:])), allowPrivate)
	}
	if isSpecial {
		return allowPrivate && r.private
	}
	return addr.Is4() || globalUnicastIPv6.Contains(addr)
}
