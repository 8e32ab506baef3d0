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

/* Leaf checks of the webpki profile that OpenSSL's flags do not cover. */
static const char *webpki_leaf_problem(X509 *leaf)
{
	/* basicConstraints cA=TRUE, whatever keyUsage says (CABF 7.1.2.7.8) */
	if ((X509_get_extension_flags(leaf) & EXFLAG_CA) != 0 || X509_check_ca(leaf) != 0)
		return "webpki: the leaf is a CA certificate (basicConstraints cA=TRUE)";
	return NULL;
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
	certpin_err rc = CERTPIN_OK;
	if (ctx == NULL || X509_STORE_CTX_init(ctx, store, leaf, untrusted) != 1) {
		rc = certpin_verdict_set_failure(v, policy, name, CERTPIN_V_INTERNAL_ERROR,
		                                 "cannot initialise OpenSSL verification");
		goto done;
	}
	X509_STORE_CTX_set_verify_cb(ctx, keep_decision);
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
	/* Bounded path building: the longest chain certpin evaluates. */
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
	if (!ok) {
		rc = certpin_verdict_set_failure(v, policy, name, CERTPIN_V_INTERNAL_ERROR,
		                                 "cannot set verification parameters");
		goto done;
	}

	int verified = X509_verify_cert(ctx);
	if (verified == 1 && X509_STORE_CTX_get_error(ctx) != X509_V_OK)
		verified = 0; /* success with an error recorded: not validated */
	if (verified != 1) {
		char reason[512];
		int e = X509_STORE_CTX_get_error(ctx);
		failure_reason(ctx, reason, sizeof reason);
		certpin_verdict_code code =
			(e == X509_V_ERR_HOSTNAME_MISMATCH || e == X509_V_ERR_IP_ADDRESS_MISMATCH)
				? CERTPIN_V_HOSTNAME_MISMATCH
				: CERTPIN_V_CHAIN_INVALID;
		if (e == X509_V_OK) /* failed without an error code: still blocked */
			code = CERTPIN_V_INTERNAL_ERROR;
		rc = certpin_verdict_set_failure(v, policy, name, code, reason);
		goto done;
	}

	if (profile != CERTPIN_VALIDATION_OPENSSL) {
		const char *problem = webpki_leaf_problem(leaf);
		if (problem != NULL) {
			rc = certpin_verdict_set_failure(v, policy, name, CERTPIN_V_CHAIN_INVALID,
			                                 problem);
			goto done;
		}
	}

	/* Evaluate on the validated chain. */
	STACK_OF(X509) *chain = X509_STORE_CTX_get0_chain(ctx);
	int cn = chain ? sk_X509_num(chain) : 0;
	if (cn <= 0 || (size_t)cn > CERTPIN_MAX_CHAIN) {
		rc = certpin_verdict_set_failure(v, policy, name, CERTPIN_V_INTERNAL_ERROR,
		                                 "validated chain is empty or too long");
		goto done;
	}
	rc = evaluate_chain(policy, name, chain, cn, rule != NULL && rule->has_cert_pins, now,
	                    verdict);
done:
	if (ctx != NULL && cp_verdict_reportable(*verdict))
		keep_chains(*verdict, leaf, untrusted, X509_STORE_CTX_get0_chain(ctx));
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(own);
	ERR_clear_error();
	return rc;
}
