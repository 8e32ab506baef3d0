/*
 * Crypto backend on mbedTLS (2.28, and 3.x where the API differs): SHA-256
 * and Name-to-text. Built instead of crypto_openssl.c with
 * -DCERTPIN_CRYPTO=mbedtls.
 *
 * mbedTLS's SHA-256 has no provider lookup and no allocation: a context on
 * the stack per hash is the cheap way, so cp_sha256_ctx_get hands out a
 * dummy non-NULL token and cp_sha256_with ignores it.
 *
 * Names are printed by a DER walk here, in the RFC 2253 form the OpenSSL
 * build prints, so verdict texts are the same in both builds.
 */
#include <string.h>

#include <stdio.h>

#include <mbedtls/sha256.h>
#include <mbedtls/version.h>

#include "internal.h"

struct cp_sha256_ctx {
	int unused;
};
static cp_sha256_ctx token;

int cp_sha256(const uint8_t *p, size_t n, uint8_t out[CERTPIN_HASH_LEN])
{
	static const uint8_t none[1] = {0};
	if (p == NULL && n > 0) {
		memset(out, 0, CERTPIN_HASH_LEN);
		return -1;
	}
	if (p == NULL)
		p = none;
#if MBEDTLS_VERSION_MAJOR >= 3
	int rc = mbedtls_sha256(p, n, out, 0);
#else
	int rc = mbedtls_sha256_ret(p, n, out, 0);
#endif
	if (rc != 0) {
		memset(out, 0, CERTPIN_HASH_LEN);
		return -1;
	}
	return 0;
}

cp_sha256_ctx *cp_sha256_ctx_get(void)
{
	return &token;
}

int cp_sha256_with(cp_sha256_ctx *ctx, const uint8_t *p, size_t n, uint8_t out[CERTPIN_HASH_LEN])
{
	if (ctx == NULL) {
		memset(out, 0, CERTPIN_HASH_LEN);
		return -1;
	}
	return cp_sha256(p, n, out);
}

/*
 * RFC 2253 text of a DER Name, as the OpenSSL build prints it
 * (XN_FLAG_RFC2253 without escaping UTF-8): RDNs last first, separated by
 * ",", multi-valued RDNs joined by "+", known attribute types by their
 * short names, unknown ones as dotted OIDs with "#" and the hex DER of the
 * value, string types converted to UTF-8, the RFC 2253 specials and control
 * characters escaped.
 */
struct text {
	char *buf;
	size_t n, len; /* len may exceed n: the length needed */
};

static void put(struct text *t, const char *s, size_t l)
{
	for (size_t i = 0; i < l; i++, t->len++)
		if (t->len + 1 < t->n)
			t->buf[t->len] = s[i];
}

static void put_utf8(struct text *t, uint32_t cp)
{
	char u[4];
	size_t l;
	if (cp < 0x80) {
		u[0] = (char)cp;
		l = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | cp >> 6);
		u[1] = (char)(0x80 | (cp & 0x3f));
		l = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | cp >> 12);
		u[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		l = 3;
	} else {
		u[0] = (char)(0xf0 | (cp >> 18 & 0x07));
		u[1] = (char)(0x80 | (cp >> 12 & 0x3f));
		u[2] = (char)(0x80 | (cp >> 6 & 0x3f));
		u[3] = (char)(0x80 | (cp & 0x3f));
		l = 4;
	}
	put(t, u, l);
}

/* One character of a value, escaped as RFC 2253 wants. */
static void put_escaped(struct text *t, uint32_t cp, int first, int last)
{
	char esc[4];
	if (cp < 0x20 || cp == 0x7f) {
		snprintf(esc, sizeof esc, "\\%02X", (unsigned)cp);
		put(t, esc, 3);
		return;
	}
	if ((cp != 0 && strchr(",+\"\\<>;", (int)cp) != NULL) ||
	    (first && (cp == '#' || cp == ' ')) || (last && cp == ' '))
		put(t, "\\", 1);
	put_utf8(t, cp);
}

static const struct {
	const char *oid; /* DER contents */
	size_t len;
	const char *name;
} attr_names[] = {
	{"\x55\x04\x03", 3, "CN"},      {"\x55\x04\x06", 3, "C"},
	{"\x55\x04\x07", 3, "L"},       {"\x55\x04\x08", 3, "ST"},
	{"\x55\x04\x0a", 3, "O"},       {"\x55\x04\x0b", 3, "OU"},
	{"\x55\x04\x05", 3, "serialNumber"}, {"\x55\x04\x09", 3, "street"},
	{"\x55\x04\x04", 3, "SN"},      {"\x55\x04\x2a", 3, "GN"},
	{"\x55\x04\x0c", 3, "title"},   {"\x55\x04\x11", 3, "postalCode"},
	{"\x55\x04\x2e", 3, "dnQualifier"}, {"\x55\x04\x2b", 3, "initials"},
	{"\x55\x04\x61", 3, "organizationIdentifier"},
	{"\x2a\x86\x48\x86\xf7\x0d\x01\x09\x01", 9, "emailAddress"},
	{"\x09\x92\x26\x89\x93\xf2\x2c\x64\x01\x19", 10, "DC"},
	{"\x09\x92\x26\x89\x93\xf2\x2c\x64\x01\x01", 10, "UID"},
};

static void put_oid(struct text *t, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < sizeof attr_names / sizeof attr_names[0]; i++) {
		if (attr_names[i].len == n && memcmp(attr_names[i].oid, p, n) == 0) {
			put(t, attr_names[i].name, strlen(attr_names[i].name));
			return;
		}
	}
	char num[32];
	uint64_t v;
	/* dotted decimal */
	v = 0;
	int first = 1;
	for (size_t i = 0; i < n; i++) {
		v = v << 7 | (p[i] & 0x7f);
		if (p[i] & 0x80)
			continue;
		int l;
		if (first) {
			unsigned a = v < 40 ? 0 : v < 80 ? 1 : 2;
			l = snprintf(num, sizeof num, "%u.%llu", a, (unsigned long long)(v - 40u * a));
			first = 0;
		} else {
			l = snprintf(num, sizeof num, ".%llu", (unsigned long long)v);
		}
		put(t, num, (size_t)l);
		v = 0;
	}
}

/* A string value as UTF-8, escaped; 0, or -1 for a type printed as #hex. */
static int put_value(struct text *t, uint8_t tag, const uint8_t *p, size_t n)
{
	size_t step = tag == 30 ? 2 : tag == 28 ? 4 : 1; /* BMP, Universal */
	if (tag != 12 && tag != 19 && tag != 22 && tag != 20 && tag != 18 && tag != 26 &&
	    tag != 30 && tag != 28)
		return -1;
	if (n % step != 0)
		return -1;
	for (size_t i = 0; i < n; i += step) {
		uint32_t cp;
		size_t used = step;
		if (step == 2) {
			cp = (uint32_t)p[i] << 8 | p[i + 1];
		} else if (step == 4) {
			cp = (uint32_t)p[i] << 24 | (uint32_t)p[i + 1] << 16 | (uint32_t)p[i + 2] << 8 | p[i + 3];
		} else if (tag == 12 && p[i] >= 0x80) {
			/* UTF-8 already: copy the sequence as it is */
			size_t l = (p[i] & 0xe0) == 0xc0 ? 2 : (p[i] & 0xf0) == 0xe0 ? 3 : 4;
			if (i + l > n)
				l = n - i;
			put(t, (const char *)p + i, l);
			i += l - 1;
			continue;
		} else {
			cp = p[i]; /* ASCII types; T61String as Latin-1 */
		}
		put_escaped(t, cp, i == 0, i + used >= n);
	}
	return 0;
}

static void put_hex(struct text *t, const uint8_t *p, size_t n)
{
	char h[3];
	put(t, "#", 1);
	for (size_t i = 0; i < n; i++) {
		snprintf(h, sizeof h, "%02X", p[i]);
		put(t, h, 2);
	}
}

certpin_err cp_name_to_text(const uint8_t *der, size_t len, char *buf, size_t n)
{
	if (der == NULL || buf == NULL || n == 0)
		return CERTPIN_E_INVALID_ARG;
	buf[0] = '\0';
	uint8_t tag;
	size_t hdr, vlen;
	if (cp_der_tlv(der, len, &tag, &hdr, &vlen) != 0 || tag != 0x30 || hdr + vlen != len)
		return CERTPIN_E_DER;
	/* the RDNs, to print from the last */
	const uint8_t *rdn[64];
	size_t rdn_len[64], count = 0;
	for (size_t off = hdr; off < len;) {
		size_t h2, v2;
		if (cp_der_tlv(der + off, len - off, &tag, &h2, &v2) != 0 || tag != 0x31 ||
		    count == 64)
			return CERTPIN_E_DER;
		rdn[count] = der + off + h2;
		rdn_len[count++] = v2;
		off += h2 + v2;
	}
	struct text t = {buf, n, 0};
	for (size_t r = count; r-- > 0;) {
		if (r + 1 != count)
			put(&t, ",", 1);
		int first_atv = 1;
		for (size_t off = 0; off < rdn_len[r];) {
			size_t h3, v3, h4, v4, h5, v5;
			const uint8_t *atv = rdn[r] + off;
			uint8_t vtag;
			if (cp_der_tlv(atv, rdn_len[r] - off, &tag, &h3, &v3) != 0 || tag != 0x30 ||
			    cp_der_tlv(atv + h3, v3, &tag, &h4, &v4) != 0 || tag != 0x06 ||
			    cp_der_tlv(atv + h3 + h4 + v4, v3 - h4 - v4, &vtag, &h5, &v5) != 0 ||
			    h4 + v4 + h5 + v5 != v3)
				return CERTPIN_E_DER;
			if (!first_atv)
				put(&t, "+", 1);
			first_atv = 0;
			put_oid(&t, atv + h3 + h4, v4);
			put(&t, "=", 1);
			const uint8_t *val = atv + h3 + h4 + v4;
			if (put_value(&t, vtag, val + h5, v5) != 0)
				put_hex(&t, val, h5 + v5);
			off += h3 + v3;
		}
	}
	if (t.len < n) {
		buf[t.len] = '\0';
		return CERTPIN_OK;
	}
	size_t cut = cp_utf8_cut(buf, n - 1);
	buf[cut] = '\0';
	return CERTPIN_E_BUFFER;
}
