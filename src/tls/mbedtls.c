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
#include <sys/socket.h>
#include <time.h>

#include <mbedtls/error.h>
#include <mbedtls/oid.h>
#include <mbedtls/version.h>
#include <mbedtls/x509.h>

#include "certpin/certpin_mbedtls.h"
#include "internal.h"

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
	int64_t now; /* CERTPIN_MBEDTLS_TIME_NOW live */
	/* the chain of the current verification, by depth */
	int prev_depth, top, overflow;
	uint32_t flags_any;
	cp_chain_slices chain[CERTPIN_MAX_CHAIN];
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
		for (size_t i = 0; i < c->rule->n_anchors; i++)
			if (mbedtls_x509_crt_parse_der(&c->anchors, c->rule->anchors[i].p,
			                               c->rule->anchors[i].n) != 0)
				return CERTPIN_E_DER;
		c->have_anchors = 1;
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
	const char *live_host = c->ssl != NULL ? ssl_hostname(c->ssl) : c->host;
	if (c->host[0] == '\0' || live_host == NULL) {
		snprintf(c->reason, sizeof c->reason,
		         "no host name: call mbedtls_ssl_set_hostname() before certpin_mbedtls_setup()");
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
			         "the leaf is a CA certificate (basicConstraints cA=TRUE)");
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

/* ---- public entry points ---------------------------------------------------------- */

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
	certpin_policy *snap = cp_ctx_snapshot(c->ctx, NULL);
	if (snap == NULL)
		return CERTPIN_E_INTERNAL;
	certpin_err rc = bind_conn(c, snap, host);
	if (rc != CERTPIN_OK)
		return rc;
	c->ssl = ssl;
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
