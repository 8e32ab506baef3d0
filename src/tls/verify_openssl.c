/*
 * Chain validation with OpenSSL followed by policy evaluation on the chain
 * OpenSSL built (never the one the peer sent: invariant 1). Used by the
 * offline `certpin eval` and by the OpenSSL TLS adapter.
 */
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "certpin/certpin_openssl.h"
#include "internal.h"
#include "webpki.h"

/* A store holding only the rule's pinned CA certificates. */
static X509_STORE *pinned_store(const struct certpin_rule *r)
{
	X509_STORE *st = X509_STORE_new();
	if (st == NULL)
		return NULL;
	for (size_t i = 0; i < r->n_anchors; i++) {
		const unsigned char *p = r->anchors[i].p;
		X509 *x = d2i_X509(NULL, &p, (long)r->anchors[i].n);
		int ok = x != NULL && X509_STORE_add_cert(st, x) == 1;
		X509_free(x);
		if (!ok) {
			X509_STORE_free(st);
			return NULL;
		}
	}
	return st;
}

/*
 * certpin's own verify callback: it reports OpenSSL's decision unchanged, so a
 * callback the application installed on its X509_STORE (one that returns 1
 * for every error, say) cannot turn a failed validation into a pinned chain.
 */
static int keep_decision(int ok, X509_STORE_CTX *ctx)
{
	(void)ctx;
	return ok;
}

/*
 * The webpki profile's callback: OpenSSL's decision, except that a
 * certificate is still valid during its notAfter second. RFC 5280 4.1.2.5
 * makes notAfter inclusive; OpenSSL 3.0's X509_cmp_time() counts "equal" as
 * expired. Only that exact second is forgiven, and the error is cleared so
 * the "success with an error recorded" check below does not refuse it.
 */
static int webpki_decision(int ok, X509_STORE_CTX *ctx)
{
	if (ok || X509_STORE_CTX_get_error(ctx) != X509_V_ERR_CERT_HAS_EXPIRED)
		return ok;
	X509 *cur = X509_STORE_CTX_get_current_cert(ctx);
	const X509_VERIFY_PARAM *param = X509_STORE_CTX_get0_param(ctx);
	if (cur == NULL || param == NULL ||
	    (X509_VERIFY_PARAM_get_flags(param) & X509_V_FLAG_USE_CHECK_TIME) == 0)
		return ok;
	if (ASN1_TIME_cmp_time_t(X509_get0_notAfter(cur), X509_VERIFY_PARAM_get_time(param)) != 0)
		return ok;
	X509_STORE_CTX_set_error(ctx, X509_V_OK);
	return 1;
}

/*
 * Sets up one verification (after X509_STORE_CTX_init). 0 on failure.
 */
static int setup_ctx(X509_STORE_CTX *ctx, certpin_validation profile, int pinned_anchors,
                     const char *name, size_t len, int is_ip, int64_t now)
{
	X509_STORE_CTX_set_verify_cb(ctx, profile == CERTPIN_VALIDATION_OPENSSL ? keep_decision
	                                                                    : webpki_decision);
	X509_VERIFY_PARAM *param = X509_STORE_CTX_get0_param(ctx);
	/*
	 * Flags inherited from the application's store must not weaken
	 * validation (invariant 2): no skipped dates, no ignored critical
	 * extensions, no proxy certificates, and partial chains only for
	 * pinned anchors.
	 */
	X509_VERIFY_PARAM_clear_flags(param, X509_V_FLAG_NO_CHECK_TIME | X509_V_FLAG_IGNORE_CRITICAL |
	                                             X509_V_FLAG_ALLOW_PROXY_CERTS |
	                                             X509_V_FLAG_PARTIAL_CHAIN);
	/*
	 * Bounded path building: at most the longest chain certpin evaluates.
	 * A store that asks for less (X509_STORE_set_depth, `certpin eval
	 * --max-depth`) gets OpenSSL's count under "openssl"; webpki counts
	 * it afterwards without self-issued intermediates (depth_exceeded).
	 */
	int depth = X509_VERIFY_PARAM_get_depth(param);
	if (depth < 0 || depth > (int)CERTPIN_MAX_CHAIN - 2 || profile != CERTPIN_VALIDATION_OPENSSL)
		X509_VERIFY_PARAM_set_depth(param, (int)CERTPIN_MAX_CHAIN - 2);
	/* webpki: at least 112-bit security (RSA/DSA >= 2048, no SHA-1 signatures) */
	if (profile != CERTPIN_VALIDATION_OPENSSL && X509_VERIFY_PARAM_get_auth_level(param) < 2)
		X509_VERIFY_PARAM_set_auth_level(param, 2);
	unsigned int hostflags = X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS;
	if (profile != CERTPIN_VALIDATION_OPENSSL)
		hostflags |= X509_CHECK_FLAG_NEVER_CHECK_SUBJECT; /* no CN fallback */
	/*
	 * Always sslserver: X509_STORE_CTX_set_purpose() keeps a purpose or trust
	 * inherited from the store (X509_PURPOSE_ANY, say), which would skip the
	 * serverAuth check; the param setters overwrite.
	 */
	int ok = X509_VERIFY_PARAM_set_purpose(param, X509_PURPOSE_SSL_SERVER) == 1 &&
	         X509_VERIFY_PARAM_set_trust(param, X509_TRUST_SSL_SERVER) == 1;
	X509_VERIFY_PARAM_set_hostflags(param, hostflags);
	if (is_ip)
		ok = ok && X509_VERIFY_PARAM_set1_ip_asc(param, name) == 1;
	else
		ok = ok && X509_VERIFY_PARAM_set1_host(param, name, len) == 1;
	X509_VERIFY_PARAM_set_time(param, (time_t)now);
	if (pinned_anchors)
		X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_PARTIAL_CHAIN);
	return ok;
}

/*
 * webpki's reading of a depth limit the store asks for: at most that many
 * intermediates between leaf and trust anchor, not counting self-issued
 * ones (key rollover certificates; RFC 5280 6.1.4 (l) skips them for path
 * lengths too). OpenSSL counts every certificate.
 */
static int depth_exceeded(const X509_STORE *store, STACK_OF(X509) *chain)
{
	const X509_VERIFY_PARAM *sp = X509_STORE_get0_param(store);
	int limit = sp != NULL ? X509_VERIFY_PARAM_get_depth(sp) : -1;
	if (limit < 0)
		return 0;
	int n = sk_X509_num(chain), count = 0;
	for (int i = 1; i < n - 1; i++)
		if ((X509_get_extension_flags(sk_X509_value(chain, i)) & EXFLAG_SI) == 0)
			count++;
	return count > limit;
}

/*
 * OpenSSL 3.0 builds one path, taking the first matching issuer among the
 * untrusted certificates, and does not backtrack when that path dead-ends
 * (no trust anchor above it) or breaks a name constraint while another
 * intermediate for the same issuer name would have worked (cross-signed
 * CAs). certpin retries a bounded number of times without the untrusted
 * certificate where the failed path broke. Every retry is a full
 * X509_verify_cert(), so it can only find another valid path, never accept
 * an invalid one; and it runs only after a failure, so a valid chain costs
 * nothing more.
 */
#define MAX_PATH_RETRIES 4
/* Untrusted certificates considered as issuers: twice the longest chain. */
#define MAX_UNTRUSTED (2 * (int)CERTPIN_MAX_CHAIN)

/*
 * Removes from the pool the untrusted certificate at the failed depth
 * (depth >= 1: the leaf's own problems are not path problems). 1 when one
 * was removed and another attempt makes sense.
 */
static int drop_dead_end(X509_STORE_CTX *ctx, STACK_OF(X509) *untrusted, STACK_OF(X509) **pool)
{
	int e = X509_STORE_CTX_get_error(ctx);
	int depth = X509_STORE_CTX_get_error_depth(ctx);
	STACK_OF(X509) *chain = X509_STORE_CTX_get0_chain(ctx);
	if (untrusted == NULL || chain == NULL || depth < 1 || depth >= sk_X509_num(chain))
		return 0;
	switch (e) {
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_CERT_HAS_EXPIRED:
	case X509_V_ERR_CERT_NOT_YET_VALID:
	case X509_V_ERR_PERMITTED_VIOLATION:
	case X509_V_ERR_EXCLUDED_VIOLATION:
	case X509_V_ERR_PATH_LENGTH_EXCEEDED:
	case X509_V_ERR_INVALID_CA:
	case X509_V_ERR_INVALID_PURPOSE:
		break;
	default:
		return 0;
	}
	X509 *bad = sk_X509_value(chain, depth);
	if (*pool == NULL && (*pool = sk_X509_dup(untrusted)) == NULL)
		return 0;
	/* the chain holds the pool's own pointers (OpenSSL up-refs, never copies) */
	return sk_X509_delete_ptr(*pool, bad) != NULL;
}

static void failure_reason(X509_STORE_CTX *ctx, char *buf, size_t n);

/* The verdict code and reason of a failed X509_verify_cert(). */
static certpin_verdict_code failure(X509_STORE_CTX *ctx, certpin_validation profile, X509 *leaf,
                                    char *reason, size_t n)
{
	int e = X509_STORE_CTX_get_error(ctx);
	int host_e = e == X509_V_ERR_HOSTNAME_MISMATCH || e == X509_V_ERR_IP_ADDRESS_MISMATCH;
	/* no CN fallback: say which webpki rule left OpenSSL no name to match */
	if (!host_e || profile == CERTPIN_VALIDATION_OPENSSL ||
	    cp_webpki_hostname_problem(leaf, reason, n) == NULL)
		failure_reason(ctx, reason, n);
	if (e == X509_V_OK) /* failed without an error code: still blocked */
		return CERTPIN_V_INTERNAL_ERROR;
	return host_e ? CERTPIN_V_HOSTNAME_MISMATCH : CERTPIN_V_CHAIN_INVALID;
}

static void failure_reason(X509_STORE_CTX *ctx, char *buf, size_t n)
{
	int e = X509_STORE_CTX_get_error(ctx);
	int depth = X509_STORE_CTX_get_error_depth(ctx);
	X509 *cur = X509_STORE_CTX_get_current_cert(ctx);
	char subj[256] = "";
	if (cur != NULL)
		X509_NAME_oneline(X509_get_subject_name(cur), subj, sizeof subj);
	snprintf(buf, n, "%s (certificate at depth %d%s%s)", X509_verify_cert_error_string(e),
	         depth, subj[0] ? ": " : "", subj);
}

/*
 * Room on the stack for the chain's SubjectPublicKeyInfo encodings: a
 * 3-certificate RSA-4096 chain takes about 1.7 KiB. What does not fit goes to
 * the heap.
 */
#define SPKI_ARENA 4096

/*
 * Evaluates the validated chain on slices of OpenSSL's own objects, without
 * re-encoding whole certificates (i2d_X509 costs about 3.5 us each, more
 * than the rest of the check): the subject is the Name's cached DER, the
 * SubjectPublicKeyInfo is encoded from the parsed key, and the whole
 * certificate only when the rule has cert-sha256 pins. Any encoding failure
 * fails closed.
 */
static certpin_err evaluate_chain(const certpin_policy *policy, const char *name,
                                  STACK_OF(X509) *chain, int cn, int need_whole, int64_t now,
                                  certpin_verdict **verdict)
{
	cp_chain_slices sl[CERTPIN_MAX_CHAIN];
	unsigned char *heap[CERTPIN_MAX_CHAIN] = {0};  /* SPKIs that did not fit the arena */
	unsigned char *whole[CERTPIN_MAX_CHAIN] = {0}; /* i2d_X509 output */
	unsigned char arena[SPKI_ARENA];
	size_t used = 0;
	const char *problem = NULL;
	for (int i = 0; i < cn; i++) {
		X509 *x = sk_X509_value(chain, i);
		const X509_PUBKEY *pk = x != NULL ? X509_get_X509_PUBKEY(x) : NULL;
		const unsigned char *sp = NULL;
		size_t sn = 0;
		if (pk == NULL ||
		    X509_NAME_get0_der(X509_get_subject_name(x), &sp, &sn) != 1 || sp == NULL) {
			problem = "cannot read a validated certificate";
			break;
		}
		sl[i].subject.p = sp;
		sl[i].subject.n = sn;

		int k = i2d_X509_PUBKEY(pk, NULL);
		if (k <= 0) {
			problem = "cannot encode the key of a validated certificate";
			break;
		}
		unsigned char *dst;
		if ((size_t)k <= sizeof arena - used) {
			dst = arena + used;
			used += (size_t)k;
		} else if ((dst = heap[i] = OPENSSL_malloc((size_t)k)) == NULL) {
			problem = "out of memory";
			break;
		}
		unsigned char *w = dst;
		if (i2d_X509_PUBKEY(pk, &w) != k) {
			problem = "cannot encode the key of a validated certificate";
			break;
		}
		sl[i].spki.p = dst;
		sl[i].spki.n = (size_t)k;

		sl[i].whole.p = NULL;
		sl[i].whole.n = 0;
		if (need_whole) {
			int m = i2d_X509(x, &whole[i]);
			if (m <= 0) {
				problem = "cannot encode a validated certificate";
				break;
			}
			sl[i].whole.p = whole[i];
			sl[i].whole.n = (size_t)m;
		}
	}
	certpin_err rc;
	if (problem == NULL)
		rc = cp_evaluate_slices(policy, name, sl, (size_t)cn, now, verdict);
	else
		rc = certpin_verdict_set_failure(*verdict, policy, name, CERTPIN_V_INTERNAL_ERROR,
		                                 problem);
	for (int i = 0; i < cn; i++) {
		OPENSSL_free(heap[i]);
		OPENSSL_free(whole[i]);
	}
	return rc;
}

/* Appends x's DER to the verdict's chain `which`; 0, or -1 when it cannot. */
static int keep_cert(certpin_verdict *v, certpin_chain_kind which, X509 *x)
{
	unsigned char *der = NULL;
	int n = x != NULL ? i2d_X509(x, &der) : -1;
	int ok = n > 0 && cp_verdict_add_cert(v, which, der, (size_t)n) == CERTPIN_OK;
	OPENSSL_free(der);
	return ok ? 0 : -1;
}

/*
 * For a reportable verdict only (a violation: rare, and never the allowed
 * path of a pinned handshake): copies of the chain as the peer sent it (the
 * leaf, then `untrusted`, which in a TLS handshake repeats the leaf first)
 * and of the chain validation built (partial after a failure). A copy that
 * fails makes the report's chain shorter, never the verdict different.
 */
static void keep_chains(certpin_verdict *v, X509 *leaf, STACK_OF(X509) *untrusted,
                        STACK_OF(X509) *validated)
{
	if (keep_cert(v, CERTPIN_CHAIN_SERVED, leaf) == 0) {
		int n = untrusted != NULL ? sk_X509_num(untrusted) : 0;
		for (int i = 0; i < n; i++) {
			X509 *x = sk_X509_value(untrusted, i);
			if (i == 0 && (x == leaf || X509_cmp(x, leaf) == 0))
				continue;
			if (keep_cert(v, CERTPIN_CHAIN_SERVED, x) != 0)
				break;
		}
	}
	int n = validated != NULL ? sk_X509_num(validated) : 0;
	for (int i = 0; i < n; i++)
		if (keep_cert(v, CERTPIN_CHAIN_VALIDATED, sk_X509_value(validated, i)) != 0)
			break;
}

certpin_err certpin_openssl_verify(const certpin_policy *policy, const char *host, X509 *leaf,
                                   STACK_OF(X509) *untrusted, X509_STORE *trust, int64_t now,
                                   certpin_verdict **verdict)
{
	if (verdict == NULL)
		return CERTPIN_E_INVALID_ARG;
	if (*verdict == NULL && (*verdict = certpin_verdict_new()) == NULL)
		return CERTPIN_E_NOMEM;
	certpin_verdict *v = *verdict;
	if (policy == NULL || leaf == NULL) {
		certpin_verdict_set_failure(v, policy, host, CERTPIN_V_INTERNAL_ERROR,
		                            "no policy or no certificate");
		return CERTPIN_E_INVALID_ARG;
	}

	char name[CERTPIN_HOST_MAX + 1];
	size_t len = 0;
	int is_ip = 0;
	certpin_error herr;
	if (host == NULL ||
	    cp_host_normalize(host, strlen(host), name, &len, &is_ip, &herr) != CERTPIN_OK) {
		/* set_failure records the reason for the missing or invalid host */
		return certpin_verdict_set_failure(v, policy, host, CERTPIN_V_INTERNAL_ERROR, "");
	}
	if (now == CERTPIN_TIME_NOW)
		now = (int64_t)time(NULL);

	const struct certpin_rule *rule = cp_index_lookup(policy->index, name, len, is_ip);
	int pinned_anchors = rule != NULL && !rule->exclude &&
	                     rule->trust_anchors == CERTPIN_ANCHORS_PINNED;
	certpin_validation profile = rule != NULL ? rule->validation : policy->validation;

	X509_STORE *store = trust;
	X509_STORE *own = NULL;
	/* A store whose verification function was replaced validates nothing we can vouch for. */
	if (trust != NULL && !pinned_anchors && X509_STORE_get_verify(trust) != NULL)
		return certpin_verdict_set_failure(v, policy, name, CERTPIN_V_INTERNAL_ERROR,
		                                   "the trust store replaces OpenSSL's verification "
		                                   "function; refusing to pin on its result");
	if (pinned_anchors) {
		own = pinned_store(rule);
		if (own == NULL)
			return certpin_verdict_set_failure(v, policy, name, CERTPIN_V_INTERNAL_ERROR,
			                                   "cannot build the pinned trust store");
		store = own;
	}
	if (store == NULL)
		return certpin_verdict_set_failure(v, policy, name, CERTPIN_V_INTERNAL_ERROR,
		                                   "no trust store");

	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	STACK_OF(X509) *pool = NULL; /* untrusted minus dead ends (shallow copy) */
	certpin_err rc = CERTPIN_OK;
	int verified = 0;
	char reason[512] = "";
	certpin_verdict_code first_code = CERTPIN_V_INTERNAL_ERROR;
	/*
	 * Candidate issuers: a server that sends more than MAX_UNTRUSTED
	 * certificates gets only its first ones considered, which bounds path
	 * building (x509-limbo's pathological chains send 100).
	 */
	if (untrusted != NULL && sk_X509_num(untrusted) > MAX_UNTRUSTED) {
		pool = sk_X509_new_reserve(NULL, MAX_UNTRUSTED);
		for (int i = 0; pool != NULL && i < MAX_UNTRUSTED; i++)
			(void)sk_X509_push(pool, sk_X509_value(untrusted, i)); /* reserved: cannot fail */
		if (pool == NULL) {
			rc = certpin_verdict_set_failure(v, policy, name, CERTPIN_V_INTERNAL_ERROR,
			                                 "out of memory");
			goto done;
		}
	}
	for (int attempt = 0;; attempt++) {
		if (ctx == NULL ||
		    X509_STORE_CTX_init(ctx, store, leaf, pool != NULL ? pool : untrusted) != 1) {
			rc = certpin_verdict_set_failure(v, policy, name, CERTPIN_V_INTERNAL_ERROR,
			                                 "cannot initialise OpenSSL verification");
			goto done;
		}
		if (!setup_ctx(ctx, profile, pinned_anchors, name, len, is_ip, now)) {
			rc = certpin_verdict_set_failure(v, policy, name, CERTPIN_V_INTERNAL_ERROR,
			                                 "cannot set verification parameters");
			goto done;
		}
		verified = X509_verify_cert(ctx);
		if (verified == 1 && X509_STORE_CTX_get_error(ctx) != X509_V_OK)
			verified = 0; /* success with an error recorded: not validated */
		/* the verdict tells why the path the peer sent failed: the first attempt */
		if (verified != 1 && attempt == 0)
			first_code = failure(ctx, profile, leaf, reason, sizeof reason);
		if (verified == 1 || attempt >= MAX_PATH_RETRIES ||
		    !drop_dead_end(ctx, untrusted, &pool))
			break;
		X509_STORE_CTX_cleanup(ctx);
	}
	if (verified != 1) {
		rc = certpin_verdict_set_failure(v, policy, name, first_code, reason);
		goto done;
	}

	STACK_OF(X509) *chain = X509_STORE_CTX_get0_chain(ctx);
	int cn = chain ? sk_X509_num(chain) : 0;
	if (cn <= 0 || (size_t)cn > CERTPIN_MAX_CHAIN) {
		rc = certpin_verdict_set_failure(v, policy, name, CERTPIN_V_INTERNAL_ERROR,
		                                 "validated chain is empty or too long");
		goto done;
	}
	/* The web-PKI rules, on the chain OpenSSL built (docs/webpki.md). */
	if (profile != CERTPIN_VALIDATION_OPENSSL) {
		char why[256];
		if (depth_exceeded(store, chain))
			snprintf(why, sizeof why, "certificate chain too long: more intermediates "
			                          "than the trust store's depth limit");
		if (depth_exceeded(store, chain) ||
		    cp_webpki_chain_problem(chain, name, is_ip, why, sizeof why) != NULL) {
			rc = certpin_verdict_set_failure(v, policy, name, CERTPIN_V_CHAIN_INVALID, why);
			goto done;
		}
	}

	/* Evaluate on the validated chain. */
	rc = evaluate_chain(policy, name, chain, cn, rule != NULL && rule->has_cert_pins, now,
	                    verdict);
done:
	if (ctx != NULL && cp_verdict_reportable(*verdict))
		keep_chains(*verdict, leaf, untrusted, X509_STORE_CTX_get0_chain(ctx));
	X509_STORE_CTX_free(ctx);
	sk_X509_free(pool);
	X509_STORE_free(own);
	ERR_clear_error();
	return rc;
}
