/*
 * Host names and policy host patterns (ARCHITECTURE.md invariant 6).
 *
 * Lookup names and policy names go through the same normaliser, so a rule
 * and a host compare as plain bytes: ASCII lower case, one trailing dot
 * removed, IP literals in inet_ntop form. Everything that a TLS library or a
 * browser could read differently from us is refused rather than guessed at:
 * non-ASCII bytes (IDNs must arrive as A-labels), empty labels, and names
 * whose last label is a number but which are not a strict dotted quad
 * ("1.2.3", "127.1", "0x7f.1", "1.2.3.04"), since inet_aton() and the WHATWG
 * URL parser turn those into addresses.
 */
#include <arpa/inet.h>
#include <string.h>

#include "internal.h"

#define LABEL_MAX 63
#define EMBEDDED_IPV4                                                                             \
	"IPv6 address that embeds an IPv4 address (::ffff:a.b.c.d or ::a.b.c.d): write the "     \
	"IPv4 address"

/* Longest text inet_pton is offered; any valid IPv6 literal is shorter. */
#define IP_TEXT_MAX 63
/* Longest NUL-terminated input certpin_host_normalize looks at. */
#define HOST_INPUT_MAX 1024

static const char msg_non_ascii[] =
    "non-ASCII host name: write internationalised names as punycode (xn--...)";
static const char msg_star[] = "a wildcard must be the whole leftmost label: '*.name' (exactly "
                               "one label below name) or '**.name' (name and every depth below)";

static int is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static int is_hex(unsigned char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f');
}

/*
 * WHATWG URL "ends in a number": the last label is all decimal digits, or
 * "0x" followed by hex digits only. s is already lower case, non-empty.
 */
static int last_label_is_number(const char *s, size_t n)
{
	size_t start = n;
	while (start > 0 && s[start - 1] != '.')
		start--;
	const unsigned char *l = (const unsigned char *)s + start;
	size_t len = n - start;
	if (len == 0)
		return 0;
	size_t i;
	for (i = 0; i < len && is_digit(l[i]); i++)
		;
	if (i == len)
		return 1;
	if (len >= 2 && l[0] == '0' && l[1] == 'x') {
		for (i = 2; i < len && is_hex(l[i]); i++)
			;
		return i == len;
	}
	return 0;
}

/*
 * IPv6 addresses that embed an IPv4 address (::ffff:a.b.c.d mapped, ::a.b.c.d
 * compatible) reach the IPv4 host, but a rule for "a.b.c.d" would not apply
 * to them: refuse them so no spelling of an address bypasses its rule.
 */
static int embeds_ipv4(const unsigned char addr[16])
{
	static const unsigned char zero[10] = {0};
	if (memcmp(addr, zero, sizeof zero) != 0)
		return 0;
	if (addr[10] == 0xff && addr[11] == 0xff)
		return 1; /* ::ffff:0:0/96 */
	if (addr[10] != 0 || addr[11] != 0)
		return 0;
	/* ::/96 except :: and ::1 */
	return !(addr[12] == 0 && addr[13] == 0 && addr[14] == 0 && addr[15] <= 1);
}

/*
 * Parses s[0..n) as an IP literal of family af into canonical text in out.
 * Returns 1, 0 when it is not one, -1 for an IPv6 address embedding IPv4.
 */
static int ip_literal(int af, const char *s, size_t n, char out[CERTPIN_HOST_MAX + 1],
                      size_t *outlen)
{
	char text[IP_TEXT_MAX + 1];
	unsigned char addr[16];
	if (n == 0 || n > IP_TEXT_MAX)
		return 0;
	memcpy(text, s, n);
	text[n] = '\0';
	if (inet_pton(af, text, addr) != 1)
		return 0;
	if (af == AF_INET6 && embeds_ipv4(addr))
		return -1;
	if (inet_ntop(af, addr, out, CERTPIN_HOST_MAX + 1) == NULL)
		return 0;
	*outlen = strlen(out);
	return 1;
}

/* Describes byte c for a message: 'x' when printable, else 0xNN. */
static void describe_byte(unsigned char c, char buf[8])
{
	static const char hex[] = "0123456789abcdef";
	if (c >= 0x21 && c < 0x7f) {
		buf[0] = '\'';
		buf[1] = (char)c;
		buf[2] = '\'';
		buf[3] = '\0';
	} else {
		buf[0] = '0';
		buf[1] = 'x';
		buf[2] = hex[c >> 4];
		buf[3] = hex[c & 15];
		buf[4] = '\0';
	}
}

#define LOWER(c) [c] = c, [c - 'a' + 'A'] = c
#define SAME(c)  [c] = c

/* The lower-case form of each byte allowed in a host name; 0 for the rest. */
static const unsigned char host_byte[256] = {
    LOWER('a'), LOWER('b'), LOWER('c'), LOWER('d'), LOWER('e'), LOWER('f'), LOWER('g'), LOWER('h'),
    LOWER('i'), LOWER('j'), LOWER('k'), LOWER('l'), LOWER('m'), LOWER('n'), LOWER('o'), LOWER('p'),
    LOWER('q'), LOWER('r'), LOWER('s'), LOWER('t'), LOWER('u'), LOWER('v'), LOWER('w'), LOWER('x'),
    LOWER('y'), LOWER('z'), SAME('0'),  SAME('1'),  SAME('2'),  SAME('3'),  SAME('4'),  SAME('5'),
    SAME('6'),  SAME('7'),  SAME('8'),  SAME('9'),  SAME('-'),  SAME('_'),  SAME('.'),
};

/* The error for an empty or over-long label ending at `dot`. */
static certpin_err bad_label(size_t dot, size_t label, size_t base, certpin_error *err)
{
	if (dot == 0)
		return cp_err_set(err, CERTPIN_E_HOST, "host name starts with a dot (offset %zu)",
		                  base);
	if (dot == label)
		return cp_err_set(err, CERTPIN_E_HOST,
		                  "empty label at offset %zu (two dots in a row)", base + dot);
	return cp_err_set(err, CERTPIN_E_HOST,
	                  "label at offset %zu is %zu bytes long; the limit is %d", base + label,
	                  dot - label, LABEL_MAX);
}

/* The error for a byte the table refuses, or a '-' that starts a label. */
static certpin_err bad_byte(unsigned char c, size_t i, size_t base, certpin_error *err)
{
	char what[8];
	if (c >= 0x80)
		return cp_err_set(err, CERTPIN_E_HOST, "%s (byte 0x%02x at offset %zu)",
		                  msg_non_ascii, c, base + i);
	if (c == '-')
		return cp_err_set(err, CERTPIN_E_HOST, "label at offset %zu starts with '-'",
		                  base + i);
	describe_byte(c, what);
	return cp_err_set(err, CERTPIN_E_HOST,
	                  "invalid character %s at offset %zu in host name (allowed: letters, "
	                  "digits, '-', '_' and '.')",
	                  what, base + i);
}

/*
 * The normaliser shared by lookups and policies. `base` is the offset of s
 * in the text the user wrote (after a "*." prefix), for messages.
 * `brackets` allows "[v6]" (lookup side only). On error out is "".
 */
static certpin_err normalize(const char *s, size_t n, size_t base, int brackets,
                             char out[CERTPIN_HOST_MAX + 1], size_t *outlen, int *is_ip,
                             certpin_error *err)
{
	const unsigned char *u = (const unsigned char *)s;
	const void *nul;

	out[0] = '\0';
	*outlen = 0;
	*is_ip = 0;
	if (n == 0)
		return cp_err_set(err, CERTPIN_E_HOST, "empty host name");
	nul = memchr(s, '\0', n);
	if (nul != NULL)
		return cp_err_set(err, CERTPIN_E_HOST, "NUL byte at offset %zu in host name",
		                  base + (size_t)((const char *)nul - s));

	if (s[0] == '[') {
		if (!brackets)
			return cp_err_set(err, CERTPIN_E_HOST,
			                  "write IPv6 addresses in policies without brackets (::1, "
			                  "not [::1])");
		int ip = n < 2 || s[n - 1] != ']' ? 0 : ip_literal(AF_INET6, s + 1, n - 2, out, outlen);
		if (ip != 1) {
			out[0] = '\0';
			*outlen = 0;
			return cp_err_set(err, CERTPIN_E_HOST,
			                  ip < 0 ? EMBEDDED_IPV4 : "bracketed host is not a valid IPv6 address");
		}
		*is_ip = 1;
		return CERTPIN_OK;
	}
	if (memchr(s, ':', n) != NULL) {
		int ip = ip_literal(AF_INET6, s, n, out, outlen);
		if (ip != 1) {
			out[0] = '\0';
			*outlen = 0;
			if (ip < 0)
				return cp_err_set(err, CERTPIN_E_HOST, EMBEDDED_IPV4);
			return cp_err_set(err, CERTPIN_E_HOST,
			                  "host name contains ':' but is not a valid IPv6 address "
			                  "(a port does not belong in a host name)");
		}
		*is_ip = 1;
		return CERTPIN_OK;
	}

	if (s[n - 1] == '.')
		n--;
	if (n == 0)
		return cp_err_set(err, CERTPIN_E_HOST, "host name is only a dot");
	if (s[n - 1] == '.')
		return cp_err_set(err, CERTPIN_E_HOST,
		                  "empty label: host name ends with two dots (offset %zu)",
		                  base + n - 1);
	if (n > CERTPIN_HOST_MAX)
		return cp_err_set(err, CERTPIN_E_HOST,
		                  "host name is %zu bytes long; the limit is %d", n,
		                  CERTPIN_HOST_MAX);

	size_t label = 0; /* start of the current label */
	for (size_t i = 0; i < n; i++) {
		unsigned char c = host_byte[u[i]];
		if (c == '.') {
			if (i == label || i - label > LABEL_MAX) {
				out[0] = '\0';
				return bad_label(i, label, base, err);
			}
			out[i] = '.';
			label = i + 1;
			continue;
		}
		if (c == 0 || (c == '-' && i == label)) {
			out[0] = '\0';
			return bad_byte(u[i], i, base, err);
		}
		out[i] = (char)c;
	}
	if (n - label > LABEL_MAX) {
		out[0] = '\0';
		return bad_label(n, label, base, err);
	}
	out[n] = '\0';

	if (last_label_is_number(out, n)) {
		char name[CERTPIN_HOST_MAX + 1];
		memcpy(name, out, n + 1);
		if (ip_literal(AF_INET, name, n, out, outlen) != 1) {
			out[0] = '\0';
			*outlen = 0;
			return cp_err_set(err, CERTPIN_E_HOST,
			                  "looks like an IP address but is not a valid one (write "
			                  "IPv4 as four decimal numbers 0-255 without leading "
			                  "zeros)");
		}
		*is_ip = 1;
		return CERTPIN_OK;
	}
	*outlen = n;
	return CERTPIN_OK;
}

certpin_err cp_host_normalize(const char *s, size_t n, char *out, size_t *outlen, int *is_ip,
                              certpin_error *err)
{
	if (s == NULL || out == NULL || outlen == NULL || is_ip == NULL)
		return cp_err_set(err, CERTPIN_E_INVALID_ARG, "NULL argument");
	return normalize(s, n, 0, 1, out, outlen, is_ip, err);
}

certpin_err certpin_host_normalize(const char *host, char *out, size_t n, certpin_error *err)
{
	if (host == NULL || out == NULL)
		return cp_err_set(err, CERTPIN_E_INVALID_ARG, "NULL argument");
	if (n < CERTPIN_HOST_MAX + 1) {
		if (n > 0)
			out[0] = '\0';
		return cp_err_set(err, CERTPIN_E_INVALID_ARG,
		                  "output buffer must hold at least %d bytes",
		                  CERTPIN_HOST_MAX + 1);
	}
	size_t len = strnlen(host, HOST_INPUT_MAX + 1);
	if (len > HOST_INPUT_MAX) {
		out[0] = '\0';
		return cp_err_set(err, CERTPIN_E_HOST, "host name is longer than %d bytes",
		                  CERTPIN_HOST_MAX);
	}
	size_t outlen;
	int is_ip;
	return normalize(host, len, 0, 1, out, &outlen, &is_ip, err);
}

certpin_err cp_host_pattern_parse(const char *s, size_t n, int include_subdomains,
                                  cp_host_pattern *out, certpin_error *err)
{
	if (s == NULL || out == NULL)
		return cp_err_set(err, CERTPIN_E_INVALID_ARG, "NULL argument");
	memset(out, 0, sizeof *out);

	cp_host_kind kind = CP_HOST_EXACT;
	size_t skip = 0;
	if (n >= 3 && memcmp(s, "**.", 3) == 0) {
		kind = CP_HOST_SUBTREE;
		skip = 3;
	} else if (n >= 2 && memcmp(s, "*.", 2) == 0) {
		kind = CP_HOST_WILDCARD;
		skip = 2;
	}
	const char *star = memchr(s + skip, '*', n - skip);
	if (star != NULL)
		return cp_err_set(err, CERTPIN_E_HOST, "'*' at offset %zu: %s", (size_t)(star - s),
		                  msg_star);
	if (skip > 0 && n == skip)
		return cp_err_set(err, CERTPIN_E_HOST, "pattern '%.*s' has no name after it",
		                  (int)skip, s);

	cp_host_pattern p;
	memset(&p, 0, sizeof p);
	certpin_err rc = normalize(s + skip, n - skip, skip, 0, p.name, &p.len, &p.is_ip, err);
	if (rc != CERTPIN_OK)
		return rc;
	if (p.is_ip && kind != CP_HOST_EXACT)
		return cp_err_set(err, CERTPIN_E_HOST,
		                  "a wildcard cannot apply to an IP address; write the address "
		                  "alone");
	if (include_subdomains) {
		if (kind != CP_HOST_EXACT)
			return cp_err_set(
			    err, CERTPIN_E_HOST,
			    "include_subdomains cannot be combined with a '*.' or '**.' "
			    "pattern ('**.name' already covers the subdomains)");
		if (p.is_ip)
			return cp_err_set(err, CERTPIN_E_HOST,
			                  "include_subdomains does not apply to an IP address");
		kind = CP_HOST_SUBTREE;
	}
	if (kind != CP_HOST_EXACT && memchr(p.name, '.', p.len) == NULL)
		return cp_err_set(err, CERTPIN_E_HOST,
		                  "pattern covers a whole top-level domain ('%s'): name at least "
		                  "two labels, such as '**.example.com'",
		                  p.name);
	p.kind = kind;
	*out = p;
	return CERTPIN_OK;
}

size_t cp_host_pattern_text(const cp_host_pattern *pat, char *out, size_t n)
{
	const char *prefix;
	if (pat == NULL || pat->len > CERTPIN_HOST_MAX) {
		if (out != NULL && n > 0)
			out[0] = '\0';
		return 0;
	}
	switch (pat->kind) {
	case CP_HOST_EXACT:
		prefix = "";
		break;
	case CP_HOST_WILDCARD:
		prefix = "*.";
		break;
	case CP_HOST_SUBTREE:
		prefix = "**.";
		break;
	default:
		if (out != NULL && n > 0)
			out[0] = '\0';
		return 0;
	}
	size_t plen = strlen(prefix);
	size_t total = plen + pat->len;
	if (out == NULL || n == 0)
		return total;
	/* snprintf-like: truncate, always terminate, return the full length. */
	size_t a = plen < n - 1 ? plen : n - 1;
	memcpy(out, prefix, a);
	size_t b = pat->len < n - 1 - a ? pat->len : n - 1 - a;
	memcpy(out + a, pat->name, b);
	out[a + b] = '\0';
	return total;
}

cp_host_key cp_host_key_make(const cp_host_pattern *pat, const char *name)
{
	cp_host_key k;
	memset(&k, 0, sizeof k);
	/* A parsed pattern always fits; anything else gets the empty key, which
	 * cp_index_build refuses. */
	if (pat == NULL || name == NULL || pat->len == 0 || pat->len > CERTPIN_HOST_MAX)
		return k;
	switch (pat->kind) {
	case CP_HOST_EXACT:
	case CP_HOST_WILDCARD:
	case CP_HOST_SUBTREE:
		break;
	default:
		return k;
	}
	k.kind = (uint8_t)pat->kind;
	k.is_ip = pat->is_ip != 0;
	k.len = (uint16_t)pat->len;
	k.name = name;
	return k;
}
