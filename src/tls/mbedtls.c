/*
 * The mbedTLS adapter (include/certpin/certpin_mbedtls.h).
 *
 * mbedTLS calls the verify callback once per certificate of the chain it
 * built, from the top (the trust anchor, when one was found) down to the
 * leaf at depth 0, with that certificate's verification flags. The callback
 * records each certificate's SubjectPublicKeyInfo, subject and DER (slices
 * into mbedTLS's parsed certificates: nothing is copied or re-encoded) and
 * decides at depth 0: any validation flag on any certificate is a failed
 * validation; otherwise the policy is evaluated on the recorded chain.
 *
 * Facts about mbedTLS 2.28 this relies on (ssl_tls.c, x509_crt.c):
 *  - the callback runs from x509_crt_merge_flags_with_cb() after the chain
 *    is built, for every certificate of it, also when the chain does not
 *    reach a trusted root (the top then carries NOT_TRUSTED);
 *  - a non-zero return from the callback aborts verification with that
 *    code, and ssl_parse_certificate_verify() forgives only
 *    MBEDTLS_ERR_X509_CERT_VERIFY_FAILED in OPTIONAL mode, so returning
 *    MBEDTLS_ERR_X509_FATAL_ERROR fails the handshake in every mode;
 *  - with authmode NONE the client never verifies (no callback at all);
 *  - mbedtls_ssl_set_verify() (per connection) takes precedence over the
 *    config's callback; mbedtls_ssl_set_hs_ca_chain() replaces the config's
 *    anchors for the current handshake (the handshake state exists from
 *    mbedtls_ssl_setup() on);
 *  - the host name check uses the subjectAltName dNSNames and falls back to
 *    the CN; "*.test" matches "api.test"; IP SANs are not matched.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include <mbedtls/bignum.h>
#include <mbedtls/ecp.h>
#include <mbedtls/error.h>
#include <mbedtls/oid.h>
#include <mbedtls/rsa.h>
#include <mbedtls/version.h>
#include <mbedtls/x509.h>
#if MBEDTLS_VERSION_MAJOR < 3 && defined(MBEDTLS_SSL_SERVER_NAME_INDICATION)
#include <mbedtls/ssl_internal.h> /* the handshake state's per-handshake authmode */
#endif

#include "certpin/certpin_mbedtls.h"
#include "internal.h"
#include "webpki_rules.h"

#ifndef MBEDTLS_PRIVATE /* 2.x: every field is public */
#define MBEDTLS_PRIVATE(m) m
#endif

#define SUBJECT_RESERVE (16u * 1024u)

/* The key and signature rules of the OpenSSL build's security level 2, as
 * an mbedTLS profile: SHA-2 signatures, RSA of 2048 bits or more, P-256,
 * P-384 and P-521 (no P-192, no Brainpool, no DSA). */
static const mbedtls_x509_crt_profile webpki_profile = {
	MBEDTLS_X509_ID_FLAG(MBEDTLS_MD_SHA256) | MBEDTLS_X509_ID_FLAG(MBEDTLS_MD_SHA384) |
	    MBEDTLS_X509_ID_FLAG(MBEDTLS_MD_SHA512),
	MBEDTLS_X509_ID_FLAG(MBEDTLS_PK_RSA) | MBEDTLS_X509_ID_FLAG(MBEDTLS_PK_ECDSA) |
	    MBEDTLS_X509_ID_FLAG(MBEDTLS_PK_ECKEY),
	MBEDTLS_X509_ID_FLAG(MBEDTLS_ECP_DP_SECP256R1) | MBEDTLS_X509_ID_FLAG(MBEDTLS_ECP_DP_SECP384R1) |
	    MBEDTLS_X509_ID_FLAG(MBEDTLS_ECP_DP_SECP521R1),
	2048,
};

struct certpin_mbedtls_conn {
	certpin_ctx *ctx;
	mbedtls_ssl_context *ssl; /* live connections; NULL offline */
	certpin_policy *policy;   /* the snapshot taken by setup */
	const struct certpin_rule *rule;
	char host[CERTPIN_HOST_MAX + 1];
	int is_ip;
	mbedtls_x509_crt anchors; /* a pinned-anchor rule's CAs */
	int have_anchors;
	certpin_verdict *verdict;
	int checked;
	int armed; /* set by setup, consumed by the check: one handshake per setup */
	int64_t now; /* CERTPIN_MBEDTLS_TIME_NOW live */
	/* the chain of the current verification, by depth */
	int prev_depth, top, overflow;
	uint32_t flags_any;
	cp_chain_slices chain[CERTPIN_MAX_CHAIN];
	const mbedtls_x509_crt *crts[CERTPIN_MAX_CHAIN]; /* valid during the verification */
	char reason[512];
};

static const char *ssl_hostname(const mbedtls_ssl_context *ssl)
{
	return ssl->MBEDTLS_PRIVATE(hostname);
}

static int conf_authmode(const mbedtls_ssl_config *conf)
{
#if MBEDTLS_VERSION_MAJOR >= 3
	return conf->MBEDTLS_PRIVATE(authmode);
#else
	return conf->authmode;
#endif
}

/* ---- connection state ----------------------------------------------------- */

static void conn_release(certpin_mbedtls_conn *c)
{
	certpin_policy_free(c->policy);
	c->policy = NULL;
	c->rule = NULL;
	if (c->have_anchors)
		mbedtls_x509_crt_free(&c->anchors);
	c->have_anchors = 0;
	mbedtls_x509_crt_init(&c->anchors);
}

certpin_mbedtls_conn *certpin_mbedtls_conn_new(certpin_ctx *ctx)
{
	if (ctx == NULL)
		return NULL;
	certpin_mbedtls_conn *c = calloc(1, sizeof *c);
	if (c == NULL)
		return NULL;
	c->verdict = certpin_verdict_new();
	if (c->verdict == NULL || cp_verdict_reserve(c->verdict, SUBJECT_RESERVE) != CERTPIN_OK) {
		certpin_verdict_free(c->verdict);
		free(c);
		return NULL;
	}
	mbedtls_x509_crt_init(&c->anchors);
	c->ctx = certpin_ctx_ref(ctx);
	c->now = CERTPIN_MBEDTLS_TIME_NOW;
	return c;
}

void certpin_mbedtls_conn_free(certpin_mbedtls_conn *c)
{
	if (c == NULL)
		return;
	conn_release(c);
	certpin_verdict_free(c->verdict);
	certpin_ctx_free(c->ctx);
	free(c);
}

const certpin_verdict *certpin_mbedtls_verdict(const certpin_mbedtls_conn *c)
{
	return c != NULL && c->checked ? c->verdict : NULL;
}

certpin_err certpin_mbedtls_check(const certpin_mbedtls_conn *c)
{
	/* checked is cleared by every setup: the verdict is this handshake's */
	return c != NULL && c->checked && certpin_verdict_allowed(c->verdict) ? CERTPIN_OK
	                                                                       : CERTPIN_E_INTERNAL;
}

/* The host, its rule and (pinned anchors) the anchors, on a policy snapshot. */
static certpin_err bind_conn(certpin_mbedtls_conn *c, certpin_policy *snapshot, const char *host)
{
	conn_release(c);
	c->policy = snapshot;
	c->checked = 0;
	c->prev_depth = -1;
	c->top = -1;
	if (certpin_host_normalize(host, c->host, sizeof c->host, NULL) != CERTPIN_OK)
		c->host[0] = '\0'; /* blocks at verification with the reason */
	c->is_ip = strchr(c->host, ':') != NULL ||
	           (c->host[0] != '\0' && strspn(c->host, "0123456789.") == strlen(c->host));
	c->rule = c->host[0] ? certpin_policy_lookup(c->policy, c->host) : NULL;
	if (c->rule != NULL && !c->rule->exclude && c->rule->trust_anchors == CERTPIN_ANCHORS_PINNED) {
		c->have_anchors = 1; /* freed by conn_release even when a parse fails below */
		for (size_t i = 0; i < c->rule->n_anchors; i++)
			if (mbedtls_x509_crt_parse_der(&c->anchors, c->rule->anchors[i].p,
			                               c->rule->anchors[i].n) != 0)
				return CERTPIN_E_DER;
	}
	return CERTPIN_OK;
}

static certpin_validation validation_of(const certpin_mbedtls_conn *c)
{
	if (c->rule != NULL && !c->rule->exclude)
		return certpin_rule_validation(c->rule);
	return c->policy->validation;
}

/* ---- web-PKI name rules -------------------------------------------------------- */

static int ci_equal(const unsigned char *a, size_t al, const char *b)
{
	size_t bl = strlen(b);
	if (al != bl)
		return 0;
	for (size_t i = 0; i < al; i++) {
		unsigned char x = a[i], y = (unsigned char)b[i];
		if (x >= 'A' && x <= 'Z')
			x = (unsigned char)(x - 'A' + 'a');
		if (x != y)
			return 0;
	}
	return 1;
}

/* A dNSName matches host: exactly, or "*.rest" with rest of two labels or more
 * and host one label more than rest. */
static int dns_match(const unsigned char *san, size_t n, const char *host)
{
	if (n > 0 && san[n - 1] == '.')
		n--;
	if (ci_equal(san, n, host))
		return 1;
	if (n < 3 || san[0] != '*' || san[1] != '.')
		return 0;
	const unsigned char *rest = san + 2;
	size_t rl = n - 2;
	if (memchr(rest, '.', rl) == NULL || memchr(rest, '*', rl) != NULL)
		return 0; /* "*.tld" or a second wildcard */
	const char *dot = strchr(host, '.');
	return dot != NULL && dot != host && ci_equal(rest, rl, dot + 1);
}

/* An iPAddress SAN (4 or 16 bytes) equals the IP literal host. */
static int ip_match(const unsigned char *san, size_t n, const char *host)
{
	unsigned char want[16];
	int af = strchr(host, ':') != NULL ? AF_INET6 : AF_INET;
	if (inet_pton(af, host, want) != 1)
		return 0;
	return n == (af == AF_INET6 ? 16u : 4u) && memcmp(san, want, n) == 0;
}

/* The leaf's subjectAltName names host (webpki: no CN fallback). */
static int san_names_host(const mbedtls_x509_crt *leaf, const char *host, int is_ip)
{
	for (const mbedtls_x509_sequence *s = &leaf->subject_alt_names; s != NULL; s = s->next) {
		const mbedtls_x509_buf *b = &s->buf;
		if (b->p == NULL)
			continue;
		int type = b->tag & MBEDTLS_ASN1_TAG_VALUE_MASK;
		if (!is_ip && type == 2 && dns_match(b->p, b->len, host))
			return 1;
		if (is_ip && type == 7 && ip_match(b->p, b->len, host))
			return 1;
	}
	return 0;
}

/* ---- web-PKI chain rules (docs/webpki.md) ------------------------------------- */

/*
 * The rules of src/tls/webpki_openssl.c on mbedTLS's parsed certificates,
 * with the same names, run after mbedTLS validated the chain. mbedTLS 2.28
 * parses only some extensions (basicConstraints, keyUsage, EKU, SAN) and
 * skips unknown non-critical ones (an unknown critical one fails the
 * parse), so criticality, SKI, AKI, policyConstraints, AIA and
 * nameConstraints are read from the raw extensions (v3_ext) with the
 * bounded DER reader. Nothing is allocated.
 */

#define OID_AIA MBEDTLS_OID_PKIX "\x01\x01"

static int rule_fail(certpin_mbedtls_conn *c, const char *rule, const char *msg, int depth)
{
	snprintf(c->reason, sizeof c->reason, "%s: %s (certificate at depth %d)", rule, msg, depth);
	return 1;
}

typedef struct ext_info {
	int count; /* occurrences */
	int crit;
	const uint8_t *val; /* extnValue's contents (the OCTET STRING's) */
	size_t vlen;
} ext_info;

/* The extension oid of x (DER OID contents) from the raw extensions. */
static ext_info ext_find(const mbedtls_x509_crt *x, const char *oid, size_t oidlen)
{
	ext_info e = {0, 0, NULL, 0};
	const uint8_t *p = x->v3_ext.p;
	size_t n = x->v3_ext.len, hdr, vlen;
	uint8_t tag;
	if (p == NULL || cp_der_tlv(p, n, &tag, &hdr, &vlen) != 0 || tag != 0x30)
		return e;
	p += hdr;
	n = vlen;
	while (n > 0) {
		if (cp_der_tlv(p, n, &tag, &hdr, &vlen) != 0 || tag != 0x30)
			return e;
		const uint8_t *q = p + hdr;
		size_t m = vlen, h2, v2;
		p += hdr + vlen;
		n -= hdr + vlen;
		if (cp_der_tlv(q, m, &tag, &h2, &v2) != 0 || tag != 0x06)
			continue;
		int same = v2 == oidlen && memcmp(q + h2, oid, oidlen) == 0;
		q += h2 + v2;
		m -= h2 + v2;
		if (!same)
			continue;
		int crit = 0;
		if (cp_der_tlv(q, m, &tag, &h2, &v2) == 0 && tag == 0x01) {
			crit = v2 == 1 && q[h2] != 0;
			q += h2 + v2;
			m -= h2 + v2;
		}
		e.count++;
		e.crit = crit;
		if (cp_der_tlv(q, m, &tag, &h2, &v2) == 0 && tag == 0x04) {
			e.val = q + h2;
			e.vlen = v2;
		}
	}
	return e;
}

#define EXT(x, name) ext_find((x), MBEDTLS_OID_##name, MBEDTLS_OID_SIZE(MBEDTLS_OID_##name))

static int oid_is(const mbedtls_x509_buf *b, const char *oid, size_t len)
{
	return b->len == len && memcmp(b->p, oid, len) == 0;
}

/* webpki.key-type: RSA >= 2048 bits and a multiple of 8, or ECDSA P-256/384/521. */
static int key_rule(certpin_mbedtls_conn *c, const mbedtls_x509_crt *x, int d)
{
	mbedtls_pk_type_t t = mbedtls_pk_get_type(&x->pk);
	if (t == MBEDTLS_PK_RSA) {
		/* the modulus's bit length (mbedtls_pk_get_bitlen rounds to octets) */
		size_t bits = mbedtls_mpi_bitlen(&mbedtls_pk_rsa(x->pk)->MBEDTLS_PRIVATE(N));
		if (bits < 2048)
			return rule_fail(c, R_KEY, "RSA key shorter than 2048 bits", d);
		if (bits % 8 != 0)
			return rule_fail(c, R_KEY, "RSA modulus length not a multiple of 8", d);
		return 0;
	}
	if (t == MBEDTLS_PK_ECKEY || t == MBEDTLS_PK_ECDSA) {
		mbedtls_ecp_group_id g = mbedtls_pk_ec(x->pk)->MBEDTLS_PRIVATE(grp).id;
		if (g == MBEDTLS_ECP_DP_SECP256R1 || g == MBEDTLS_ECP_DP_SECP384R1 ||
		    g == MBEDTLS_ECP_DP_SECP521R1)
			return 0;
		return rule_fail(c, R_KEY, "EC curve other than P-256, P-384, P-521", d);
	}
	return rule_fail(c, R_KEY, "key type outside RSA and ECDSA P-256/P-384/P-521", d);
}

/* webpki.serial-number: positive, non-zero, at most 20 octets (RFC 5280 4.1.2.2). */
static int serial_rule(certpin_mbedtls_conn *c, const mbedtls_x509_crt *x, int d)
{
	const unsigned char *s = x->serial.p;
	size_t len = x->serial.len;
	if (s == NULL || len == 0)
		return rule_fail(c, R_SERIAL, "no serial number", d);
	if (s[0] & 0x80)
		return rule_fail(c, R_SERIAL, "negative serial number", d);
	while (len > 0 && s[0] == 0) {
		s++;
		len--;
	}
	if (len == 0)
		return rule_fail(c, R_SERIAL, "serial number zero", d);
	if (len > 20)
		return rule_fail(c, R_SERIAL, "serial number longer than 20 octets", d);
	return 0;
}

/* webpki.aia-syntax: an authorityInfoAccess has at least one access description. */
static int aia_rule(certpin_mbedtls_conn *c, const mbedtls_x509_crt *x, int d)
{
	ext_info e = ext_find(x, OID_AIA, MBEDTLS_OID_SIZE(OID_AIA));
	if (e.count == 0)
		return 0;
	uint8_t tag;
	size_t hdr, vlen;
	int ok = e.val != NULL && cp_der_tlv(e.val, e.vlen, &tag, &hdr, &vlen) == 0 &&
	         tag == 0x30 && hdr + vlen == e.vlen && vlen > 0;
	const uint8_t *p = ok ? e.val + hdr : NULL;
	size_t n = ok ? vlen : 0;
	while (ok && n > 0) {
		/* AccessDescription ::= SEQUENCE { accessMethod OID, accessLocation GeneralName } */
		size_t h2, v2, h3, v3;
		ok = cp_der_tlv(p, n, &tag, &hdr, &vlen) == 0 && tag == 0x30 &&
		     cp_der_tlv(p + hdr, vlen, &tag, &h2, &v2) == 0 && tag == 0x06 &&
		     cp_der_tlv(p + hdr + h2 + v2, vlen - h2 - v2, &tag, &h3, &v3) == 0 &&
		     (tag & 0xc0) == 0x80 && h2 + v2 + h3 + v3 == vlen;
		if (ok) {
			p += hdr + vlen;
			n -= hdr + vlen;
		}
	}
	return ok ? 0
	          : rule_fail(c, R_AIA, "authorityInfoAccess without an access description", d);
}

static int eku_rule(certpin_mbedtls_conn *c, const mbedtls_x509_crt *leaf)
{
	ext_info e = EXT(leaf, EXTENDED_KEY_USAGE);
	if (e.count == 0)
		return rule_fail(c, R_EKU, "the leaf has no extendedKeyUsage (serverAuth required)", 0);
	if (e.crit)
		return rule_fail(c, R_EKU, "the leaf's extendedKeyUsage is critical", 0);
	int server = 0;
	for (const mbedtls_x509_sequence *s = &leaf->ext_key_usage; s != NULL; s = s->next) {
		if (s->buf.p == NULL)
			continue;
		if (oid_is(&s->buf, MBEDTLS_OID_ANY_EXTENDED_KEY_USAGE,
		           MBEDTLS_OID_SIZE(MBEDTLS_OID_ANY_EXTENDED_KEY_USAGE)))
			return rule_fail(c, R_EKU,
			                 "the leaf's extendedKeyUsage has anyExtendedKeyUsage", 0);
		server |= oid_is(&s->buf, MBEDTLS_OID_SERVER_AUTH,
		                 MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH));
	}
	return server ? 0 : rule_fail(c, R_EKU, "the leaf's extendedKeyUsage lacks serverAuth", 0);
}

/* Appends code point u as UTF-8 to out[*o..cap). 0 or -1 (no room). */
static int put_utf8(unsigned char *out, size_t cap, size_t *o, uint32_t u)
{
	unsigned char b[4];
	size_t k;
	if (u < 0x80) {
		b[0] = (unsigned char)u;
		k = 1;
	} else if (u < 0x800) {
		b[0] = (unsigned char)(0xc0 | (u >> 6));
		b[1] = (unsigned char)(0x80 | (u & 0x3f));
		k = 2;
	} else if (u < 0x10000) {
		b[0] = (unsigned char)(0xe0 | (u >> 12));
		b[1] = (unsigned char)(0x80 | ((u >> 6) & 0x3f));
		b[2] = (unsigned char)(0x80 | (u & 0x3f));
		k = 3;
	} else {
		b[0] = (unsigned char)(0xf0 | (u >> 18));
		b[1] = (unsigned char)(0x80 | ((u >> 12) & 0x3f));
		b[2] = (unsigned char)(0x80 | ((u >> 6) & 0x3f));
		b[3] = (unsigned char)(0x80 | (u & 0x3f));
		k = 4;
	}
	if (cap - *o < k)
		return -1;
	memcpy(out + *o, b, k);
	*o += k;
	return 0;
}

/* A directory string as UTF-8 (what OpenSSL's ASN1_STRING_to_UTF8 gives). -1: unreadable. */
static long string_utf8(const mbedtls_x509_buf *v, unsigned char *out, size_t cap)
{
	size_t o = 0, unit = v->tag == MBEDTLS_ASN1_BMP_STRING         ? 2
	                     : v->tag == MBEDTLS_ASN1_UNIVERSAL_STRING ? 4
	                     : v->tag == MBEDTLS_ASN1_T61_STRING       ? 1
	                                                               : 0;
	if (unit == 0) {
		if (v->len > cap)
			return -1;
		memcpy(out, v->p, v->len);
		return (long)v->len;
	}
	if (v->len % unit != 0)
		return -1;
	for (size_t i = 0; i < v->len; i += unit) {
		uint32_t u = 0;
		for (size_t k = 0; k < unit; k++)
			u = (u << 8) | v->p[i + k];
		if (u > 0x10ffff || put_utf8(out, cap, &o, u) != 0)
			return -1;
	}
	return (long)o;
}

/* webpki.cn-in-san (CABF 7.1.4.3). */
static int cn_rule(certpin_mbedtls_conn *c, const mbedtls_x509_crt *leaf)
{
	const mbedtls_x509_name *cn = NULL;
	for (const mbedtls_x509_name *a = &leaf->subject; a != NULL; a = a->next) {
		if (a->oid.p == NULL || !oid_is(&a->oid, MBEDTLS_OID_AT_CN,
		                                MBEDTLS_OID_SIZE(MBEDTLS_OID_AT_CN)))
			continue;
		if (cn != NULL)
			return rule_fail(c, R_CN, "more than one subject CN", 0);
		cn = a;
	}
	if (cn == NULL)
		return 0;
	unsigned char text[1024];
	long cl = string_utf8(&cn->val, text, sizeof text);
	if (cl < 0)
		return rule_fail(c, R_CN, "the subject CN cannot be read", 0);
	for (const mbedtls_x509_sequence *s = &leaf->subject_alt_names; s != NULL; s = s->next) {
		const mbedtls_x509_buf *b = &s->buf;
		if (b->p == NULL)
			continue;
		int type = b->tag & MBEDTLS_ASN1_TAG_VALUE_MASK;
		char ip[INET6_ADDRSTRLEN];
		if (type == 2 && b->len == (size_t)cl && memcmp(b->p, text, b->len) == 0)
			return 0;
		if (type == 7 && (b->len == 4 || b->len == 16) &&
		    inet_ntop(b->len == 4 ? AF_INET : AF_INET6, b->p, ip, sizeof ip) != NULL &&
		    strlen(ip) == (size_t)cl && memcmp(ip, text, (size_t)cl) == 0)
			return 0;
	}
	return rule_fail(c, R_CN, "the subject CN is not a copy of a subjectAltName", 0);
}

/* An empty Name (SEQUENCE of no RDN). */
static int name_empty(const mbedtls_x509_buf *raw)
{
	uint8_t tag;
	size_t hdr, vlen;
	return raw->p != NULL && cp_der_tlv(raw->p, raw->len, &tag, &hdr, &vlen) == 0 && vlen == 0;
}

static int san_rules(certpin_mbedtls_conn *c, const mbedtls_x509_crt *leaf)
{
	ext_info e = EXT(leaf, SUBJECT_ALT_NAME);
	if (e.count == 0)
		return 0; /* no name for the host: refused by the host name check */
	int empty_subject = name_empty(&leaf->subject_raw);
	if (empty_subject && !e.crit)
		return rule_fail(c, R_SAN_CRIT,
		                 "subjectAltName not critical although the subject is empty", 0);
	if (!empty_subject && e.crit)
		return rule_fail(c, R_SAN_CRIT, "subjectAltName critical with a non-empty subject",
		                 0);
	int exact = 0;
	size_t hlen = strlen(c->host);
	for (const mbedtls_x509_sequence *s = &leaf->subject_alt_names; s != NULL; s = s->next) {
		const mbedtls_x509_buf *b = &s->buf;
		if (b->p == NULL || (b->tag & MBEDTLS_ASN1_TAG_VALUE_MASK) != 2)
			continue;
		if (memchr(b->p, '\0', b->len) != NULL || !cp_webpki_dns_syntax_ok(b->p, b->len, 1))
			return rule_fail(c, R_SAN_SYNTAX, "a dNSName is not a valid host name", 0);
		exact |= b->len == hlen && strncasecmp((const char *)b->p, c->host, hlen) == 0;
	}
	if (!c->is_ip && !exact && cp_webpki_wildcard_over_public_suffix(c->host))
		return rule_fail(c, R_PSL, "the host matched a wildcard over a public suffix", 0);
	return cn_rule(c, leaf);
}

static int leaf_rules(certpin_mbedtls_conn *c, const mbedtls_x509_crt *leaf)
{
	if (leaf->version != 3)
		return rule_fail(c, R_V3, "not a version 3 certificate", 0);
	if ((leaf->ext_types & MBEDTLS_X509_EXT_KEY_USAGE) != 0 &&
	    (leaf->key_usage & MBEDTLS_X509_KU_KEY_CERT_SIGN) != 0)
		return rule_fail(c, R_LEAF_KU, "the leaf's keyUsage has keyCertSign", 0);
	if (EXT(leaf, NAME_CONSTRAINTS).count > 0)
		return rule_fail(c, R_NC, "nameConstraints in an end-entity certificate", 0);
	if (eku_rule(c, leaf))
		return 1;
	return san_rules(c, leaf);
}

/*
 * AuthorityKeyIdentifier ::= SEQUENCE { [0] keyIdentifier OPTIONAL,
 * [1] authorityCertIssuer OPTIONAL, [2] authorityCertSerialNumber OPTIONAL }.
 * 1 when it starts with a keyIdentifier; *key_only when that is all of it,
 * with (*kid, *kidlen) its contents.
 */
static int aki_has_key_id(const ext_info *e, int *key_only, const uint8_t **kid, size_t *kidlen)
{
	uint8_t tag;
	size_t hdr, vlen;
	*key_only = 0;
	if (e->val == NULL || cp_der_tlv(e->val, e->vlen, &tag, &hdr, &vlen) != 0 || tag != 0x30)
		return 0;
	const uint8_t *p = e->val + hdr;
	size_t n = vlen;
	if (n == 0 || cp_der_tlv(p, n, &tag, &hdr, &vlen) != 0 || tag != 0x80)
		return 0;
	*key_only = hdr + vlen == n;
	*kid = p + hdr;
	*kidlen = vlen;
	return 1;
}

/* The contents of the SubjectKeyIdentifier (an OCTET STRING in extnValue). */
static int ski_value(const ext_info *e, const uint8_t **v, size_t *vl)
{
	uint8_t tag;
	size_t hdr;
	if (e->val == NULL || cp_der_tlv(e->val, e->vlen, &tag, &hdr, vl) != 0 || tag != 0x04)
		return 0;
	*v = e->val + hdr;
	return 1;
}

static int ca_rules(certpin_mbedtls_conn *c, const mbedtls_x509_crt *ca, int d, int anchor)
{
	if (ca->version != 3)
		return rule_fail(c, R_V3, "not a version 3 certificate", d);
	ext_info bc = EXT(ca, BASIC_CONSTRAINTS);
	if (bc.count != 1 || !bc.crit || !ca->ca_istrue)
		return rule_fail(c, R_CA_BC, "CA certificate without a critical cA=TRUE", d);
	ext_info ski = EXT(ca, SUBJECT_KEY_IDENTIFIER);
	if (ski.count == 0)
		return rule_fail(c, R_SKI, "CA certificate without subjectKeyIdentifier", d);
	ext_info aki = EXT(ca, AUTHORITY_KEY_IDENTIFIER);
	int self_issued = ca->issuer_raw.len == ca->subject_raw.len &&
	                  memcmp(ca->issuer_raw.p, ca->subject_raw.p, ca->subject_raw.len) == 0;
	int key_only;
	const uint8_t *kid = NULL, *sk = NULL;
	size_t kidlen = 0, sklen = 0;
	int has_kid = aki_has_key_id(&aki, &key_only, &kid, &kidlen);
	if ((aki.count > 0 || !(anchor && self_issued)) && !has_kid)
		return rule_fail(c, R_AKI, "authorityKeyIdentifier without a keyIdentifier", d);
	/*
	 * CABF 7.1.2.1.3: a root's AKI is its own key identifier and nothing
	 * else. The OpenSSL build refuses the same anchors earlier: OpenSSL's
	 * issuer check (X509_check_akid) finds that such a root did not issue
	 * itself, so the chain has no trusted top ("unable to get issuer").
	 */
	if (anchor && self_issued && aki.count > 0 &&
	    (!key_only || !ski_value(&ski, &sk, &sklen) || sklen != kidlen ||
	     memcmp(sk, kid, kidlen) != 0))
		return rule_fail(c, R_AKI,
		                 "a root's authorityKeyIdentifier is not exactly its own key identifier",
		                 d);
	ext_info pc = EXT(ca, POLICY_CONSTRAINTS);
	if (pc.count > 0 && !pc.crit)
		return rule_fail(c, R_PC, "policyConstraints not marked critical", d);
	return 0;
}

/* 1 (c->reason set) when the validated chain breaks a webpki rule. */
static int webpki_chain_problem(certpin_mbedtls_conn *c)
{
	int n = c->top + 1;
	for (int i = 0; i < n; i++)
		if (c->crts[i] == NULL)
			return rule_fail(c, R_V3, "the chain was not recorded", i);
	if (leaf_rules(c, c->crts[0]))
		return 1;
	for (int i = 0; i < n; i++) {
		if (key_rule(c, c->crts[i], i))
			return 1;
		/* a trust anchor's serial is the root program's business */
		if ((i < n - 1 || n == 1) && serial_rule(c, c->crts[i], i))
			return 1;
		if (aia_rule(c, c->crts[i], i))
			return 1;
	}
	for (int i = 1; i < n; i++)
		if (ca_rules(c, c->crts[i], i, i == n - 1))
			return 1;
	return 0;
}

/* ---- the decision --------------------------------------------------------------- */

static int64_t x509_time(const mbedtls_x509_time *t)
{
	struct tm tm;
	memset(&tm, 0, sizeof tm);
	tm.tm_year = t->year - 1900;
	tm.tm_mon = t->mon - 1;
	tm.tm_mday = t->day;
	tm.tm_hour = t->hour;
	tm.tm_min = t->min;
	tm.tm_sec = t->sec;
	return (int64_t)timegm(&tm);
}

static void first_line_of_flags(certpin_mbedtls_conn *c, uint32_t flags)
{
	int l = mbedtls_x509_crt_verify_info(c->reason, sizeof c->reason, "", flags);
	if (l <= 0) {
		snprintf(c->reason, sizeof c->reason, "mbedTLS verification flags 0x%x", (unsigned)flags);
		return;
	}
	c->reason[strcspn(c->reason, "\n")] = '\0';
}

/* Depth 0: validation result, web-PKI rules, then the policy. 1 allowed. */
static int decide(certpin_mbedtls_conn *c, const mbedtls_x509_crt *leaf)
{
	certpin_verdict_code fail = CERTPIN_V_CHAIN_INVALID;
	c->checked = 1;
	c->reason[0] = '\0';
	int armed = c->armed;
	c->armed = 0; /* the next handshake needs its own setup */
	const char *live_host = c->ssl != NULL ? ssl_hostname(c->ssl) : c->host;
	char live[CERTPIN_HOST_MAX + 1];
	if (c->host[0] == '\0' || live_host == NULL) {
		snprintf(c->reason, sizeof c->reason,
		         "no host name: call mbedtls_ssl_set_hostname() before certpin_mbedtls_setup()");
		fail = CERTPIN_V_HOSTNAME_MISMATCH;
		goto failed;
	}
	if (c->ssl != NULL && !armed) {
		/* a renegotiation, or a handshake after mbedtls_ssl_session_reset()
		 * without setup: its host, rule and anchors would be stale */
		snprintf(c->reason, sizeof c->reason,
		         "certpin_mbedtls_setup() was not called for this handshake");
		fail = CERTPIN_V_INTERNAL_ERROR;
		goto failed;
	}
	if (c->ssl != NULL &&
	    (certpin_host_normalize(live_host, live, sizeof live, NULL) != CERTPIN_OK ||
	     strcmp(live, c->host) != 0)) {
		snprintf(c->reason, sizeof c->reason,
		         "the host name changed after certpin_mbedtls_setup(): call it again");
		fail = CERTPIN_V_HOSTNAME_MISMATCH;
		goto failed;
	}
	if (c->overflow || c->top < 0) {
		snprintf(c->reason, sizeof c->reason, "the chain is longer than %u certificates",
		         CERTPIN_MAX_CHAIN);
		goto failed;
	}
	uint32_t flags = c->flags_any;
	if (validation_of(c) == CERTPIN_VALIDATION_WEBPKI) {
		flags &= ~(uint32_t)MBEDTLS_X509_BADCERT_CN_MISMATCH; /* ours instead */
		if (leaf->ca_istrue) {
			snprintf(c->reason, sizeof c->reason,
			         R_LEAF_NOT_CA ": the leaf is a CA certificate (cA=TRUE)");
			goto failed;
		}
		if (!san_names_host(leaf, c->host, c->is_ip))
			flags |= MBEDTLS_X509_BADCERT_CN_MISMATCH;
		/* as the TLS layer does for the server certificate: an EKU, when
		 * present, must allow serverAuth */
		if (mbedtls_x509_crt_check_extended_key_usage(leaf, MBEDTLS_OID_SERVER_AUTH,
		                                              MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH)) != 0)
			flags |= MBEDTLS_X509_BADCERT_EXT_KEY_USAGE;
	}
	if (flags != 0) {
		first_line_of_flags(c, flags);
		if (flags == MBEDTLS_X509_BADCERT_CN_MISMATCH)
			fail = CERTPIN_V_HOSTNAME_MISMATCH;
		goto failed;
	}
	/* as the OpenSSL build: the named rules on the chain validation accepted */
	if (validation_of(c) == CERTPIN_VALIDATION_WEBPKI && webpki_chain_problem(c))
		goto failed;
	int64_t now = c->now == CERTPIN_MBEDTLS_TIME_NOW ? (int64_t)time(NULL) : c->now;
	if (cp_evaluate_slices(c->policy, c->host, c->chain, (size_t)c->top + 1, now, &c->verdict) !=
	    CERTPIN_OK) {
		snprintf(c->reason, sizeof c->reason, "evaluation failed");
		fail = CERTPIN_V_INTERNAL_ERROR;
		goto failed;
	}
	return certpin_verdict_allowed(c->verdict);
failed:
	if (certpin_verdict_set_failure(c->verdict, c->policy, c->host, fail, c->reason) !=
	    CERTPIN_OK)
		(void)certpin_verdict_set_failure(c->verdict, c->policy, "", CERTPIN_V_INTERNAL_ERROR,
		                                  "cannot record the verdict");
	return 0;
}

static int on_cert(void *arg, mbedtls_x509_crt *crt, int depth, uint32_t *flags)
{
	certpin_mbedtls_conn *c = arg;
	if (c->prev_depth < 0 || depth >= c->prev_depth) {
		/* the first (deepest) certificate of a verification */
		c->top = depth;
		c->flags_any = 0;
		c->overflow = depth >= (int)CERTPIN_MAX_CHAIN;
		memset(c->crts, 0, sizeof c->crts);
	}
	c->prev_depth = depth;
	if (c->now != CERTPIN_MBEDTLS_TIME_NOW) {
		/* offline: dates against the given time, not the clock */
		*flags &= ~(uint32_t)(MBEDTLS_X509_BADCERT_EXPIRED | MBEDTLS_X509_BADCERT_FUTURE);
		if (x509_time(&crt->valid_to) < c->now)
			*flags |= MBEDTLS_X509_BADCERT_EXPIRED;
		if (x509_time(&crt->valid_from) > c->now)
			*flags |= MBEDTLS_X509_BADCERT_FUTURE;
	}
	c->flags_any |= *flags;
	if (depth >= 0 && depth < (int)CERTPIN_MAX_CHAIN) {
		cp_chain_slices *s = &c->chain[depth];
		s->spki = (cp_slice){crt->pk_raw.p, crt->pk_raw.len};
		s->subject = (cp_slice){crt->subject_raw.p, crt->subject_raw.len};
		s->whole = (cp_slice){crt->raw.p, crt->raw.len};
		c->crts[depth] = crt;
	}
	if (depth != 0)
		return 0;
	if (decide(c, crt))
		return 0;
	*flags |= MBEDTLS_X509_BADCERT_OTHER;
	/* not forgiven in OPTIONAL mode, unlike MBEDTLS_ERR_X509_CERT_VERIFY_FAILED */
	return MBEDTLS_ERR_X509_FATAL_ERROR;
}

/* The config's callback: runs only for connections certpin_mbedtls_setup()
 * did not bind, which are blocked. */
static int unbound(void *arg, mbedtls_x509_crt *crt, int depth, uint32_t *flags)
{
	(void)arg;
	(void)crt;
	if (depth != 0)
		return 0;
	*flags |= MBEDTLS_X509_BADCERT_OTHER;
	return MBEDTLS_ERR_X509_FATAL_ERROR;
}

/*
 * A resumed handshake verifies no certificate, so the pin check cannot run:
 * a session set for resumption (mbedtls_ssl_set_session) or a per-handshake
 * authmode NONE (mbedtls_ssl_set_hs_authmode) is refused here, and
 * certpin_mbedtls_handshake() refuses any handshake that completed without
 * a check (for one set up after this call).
 */
static int resumption_pending(const mbedtls_ssl_context *ssl)
{
	const mbedtls_ssl_session *s = ssl->MBEDTLS_PRIVATE(session_negotiate);
	if (s != NULL && s->MBEDTLS_PRIVATE(id_len) != 0)
		return 1;
#if defined(MBEDTLS_SSL_SESSION_TICKETS) && defined(MBEDTLS_SSL_CLI_C)
	if (s != NULL && s->MBEDTLS_PRIVATE(ticket) != NULL)
		return 1;
#endif
#if defined(MBEDTLS_SSL_SERVER_NAME_INDICATION) && MBEDTLS_VERSION_MAJOR < 3
	if (ssl->handshake != NULL && ssl->handshake->sni_authmode == MBEDTLS_SSL_VERIFY_NONE)
		return 1;
#endif
	return 0;
}

/* ---- public entry points ---------------------------------------------------------- */

int certpin_mbedtls_handshake(mbedtls_ssl_context *ssl, certpin_mbedtls_conn *conn)
{
	if (ssl == NULL || conn == NULL)
		return MBEDTLS_ERR_SSL_BAD_INPUT_DATA;
	int ret = mbedtls_ssl_handshake(ssl);
	if (ret != 0)
		return ret;
	if (certpin_mbedtls_check(conn) == CERTPIN_OK)
		return 0;
	/* completed without an allowing check: resumed, or verification
	 * switched off after setup */
	(void)mbedtls_ssl_close_notify(ssl);
	return MBEDTLS_ERR_X509_CERT_VERIFY_FAILED;
}

certpin_err certpin_mbedtls_attach(mbedtls_ssl_config *conf, certpin_ctx *c)
{
	if (conf == NULL || c == NULL)
		return CERTPIN_E_INVALID_ARG;
	if (conf_authmode(conf) == MBEDTLS_SSL_VERIFY_NONE)
		mbedtls_ssl_conf_authmode(conf, MBEDTLS_SSL_VERIFY_REQUIRED);
	/* TLS 1.0 and 1.1 are deprecated (RFC 8996); mbedTLS 2.28 still offers
	 * them by default where they are compiled in */
#if MBEDTLS_VERSION_MAJOR >= 3
	mbedtls_ssl_conf_min_tls_version(conf, MBEDTLS_SSL_VERSION_TLS1_2);
#else
	mbedtls_ssl_conf_min_version(conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
#endif
	mbedtls_ssl_conf_cert_profile(conf, &webpki_profile);
	mbedtls_ssl_conf_verify(conf, unbound, NULL);
	return CERTPIN_OK;
}

certpin_err certpin_mbedtls_setup(mbedtls_ssl_context *ssl, certpin_mbedtls_conn *c)
{
	if (ssl == NULL || c == NULL || ssl->MBEDTLS_PRIVATE(conf) == NULL)
		return CERTPIN_E_INVALID_ARG;
	if (conf_authmode(ssl->MBEDTLS_PRIVATE(conf)) == MBEDTLS_SSL_VERIFY_NONE)
		return CERTPIN_E_INVALID_ARG; /* nothing would be verified, pins included */
	const char *host = ssl_hostname(ssl);
	if (host == NULL || host[0] == '\0')
		return CERTPIN_E_INVALID_ARG;
	if (resumption_pending(ssl))
		return CERTPIN_E_INVALID_ARG; /* no certificate would be verified */
	certpin_policy *snap = cp_ctx_snapshot(c->ctx, NULL);
	if (snap == NULL)
		return CERTPIN_E_INTERNAL;
	certpin_err rc = bind_conn(c, snap, host);
	if (rc != CERTPIN_OK)
		return rc;
	c->ssl = ssl;
	c->armed = 1;
	c->now = CERTPIN_MBEDTLS_TIME_NOW;
	if (c->have_anchors)
		mbedtls_ssl_set_hs_ca_chain(ssl, &c->anchors, NULL);
	mbedtls_ssl_set_verify(ssl, on_cert, c);
	return CERTPIN_OK;
}

certpin_err certpin_mbedtls_verify(const certpin_policy *policy, const char *host,
                                   mbedtls_x509_crt *chain, mbedtls_x509_crt *trust, int64_t now,
                                   certpin_verdict **verdict)
{
	if (policy == NULL || host == NULL || chain == NULL || verdict == NULL)
		return CERTPIN_E_INVALID_ARG;
	certpin_mbedtls_conn *c = calloc(1, sizeof *c);
	if (c == NULL)
		return CERTPIN_E_NOMEM;
	mbedtls_x509_crt_init(&c->anchors);
	c->verdict = *verdict != NULL ? *verdict : certpin_verdict_new();
	certpin_err rc = CERTPIN_E_NOMEM;
	if (c->verdict == NULL)
		goto out;
	rc = bind_conn(c, certpin_policy_ref((certpin_policy *)(uintptr_t)policy), host);
	if (rc != CERTPIN_OK)
		goto out;
	c->now = now;
	mbedtls_x509_crt *anchors = c->have_anchors ? &c->anchors : trust;
	/* webpki names are checked by decide(); "openssl" keeps mbedTLS's check */
	const char *cn = validation_of(c) == CERTPIN_VALIDATION_WEBPKI ? NULL : c->host;
	uint32_t flags = 0;
	int ret = mbedtls_x509_crt_verify_with_profile(chain, anchors, NULL, &webpki_profile, cn,
	                                               &flags, on_cert, c);
	if (!c->checked) {
		/* verification stopped before the callback reached the leaf */
		char why[200];
		mbedtls_strerror(ret, why, sizeof why);
		rc = certpin_verdict_set_failure(c->verdict, policy, c->host, CERTPIN_V_CHAIN_INVALID, why);
	} else {
		rc = CERTPIN_OK;
	}
out:
	if (c->verdict != NULL)
		*verdict = c->verdict;
	conn_release(c);
	free(c);
	return rc;
}
