/*
 * Evaluation of validated chains against policies: rule matching, pin
 * positions and scopes, expiry at the boundary second, report and deny
 * modes, fail-closed inputs, verdict messages, and OpenSSL validation
 * before pinning (certpin_openssl_verify).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "certpin/certpin_openssl.h"
#include "internal.h"
#include "testutil.h"

/* A throwaway PKI shared by the tests: root -> intermediate -> leaf. */
static struct pki {
	EVP_PKEY *root_key, *int_key, *leaf_key, *other_key, *rogue_key;
	X509 *root, *inter, *leaf, *other, *rogue_root, *rogue_leaf, *cn_only_leaf;
	uint8_t *der[3];
	size_t len[3];
	certpin_der chain[3];
	char root_pin[64], int_pin[64], leaf_pin[64], other_pin[64];
	char leaf_cert_pin[64], int_cert_pin[64];
} P;

static const int64_t NOW = 1800000000; /* 2027-01-15 */

static void cert_pin_text(const uint8_t *der, size_t len, char *out)
{
	certpin_pin pin;
	assert_int_equal(certpin_pin_cert_from_cert_der(der, len, &pin), CERTPIN_OK);
	assert_true(certpin_pin_format(&pin, out, 64) > 0);
}

static int setup_pki(void **state)
{
	(void)state;
	int64_t nb = NOW - 86400 * 30, na = NOW + 86400 * 365;
	P.root_key = tu_key(TU_P256);
	P.int_key = tu_key(TU_P256);
	P.leaf_key = tu_key(TU_P256);
	P.other_key = tu_key(TU_P256);
	P.rogue_key = tu_key(TU_P256);
	P.root = tu_cert(P.root_key, "Test Root", NULL, NULL, 1, NULL, nb, na);
	P.inter = tu_cert(P.int_key, "Test Intermediate", P.root, P.root_key, 1, NULL, nb, na);
	P.leaf = tu_cert(P.leaf_key, "api.test", P.inter, P.int_key, 0,
	                 "DNS:api.test,DNS:*.wild.test,IP:127.0.0.1", nb, na);
	P.other = tu_cert(P.other_key, "Other Root", NULL, NULL, 1, NULL, nb, na);
	P.rogue_root = tu_cert(P.rogue_key, "Rogue Root", NULL, NULL, 1, NULL, nb, na);
	P.rogue_leaf = tu_cert(P.leaf_key, "api.test", P.rogue_root, P.rogue_key, 0, "DNS:api.test",
	                       nb, na);
	P.cn_only_leaf = tu_cert(P.other_key, "api.test", P.inter, P.int_key, 0, NULL, nb, na);
	X509 *certs[3] = {P.leaf, P.inter, P.root};
	for (int i = 0; i < 3; i++) {
		P.der[i] = tu_der(certs[i], &P.len[i]);
		P.chain[i].der = P.der[i];
		P.chain[i].len = P.len[i];
	}
	strcpy(P.root_pin, tu_spki_pin_text(P.root_key));
	strcpy(P.int_pin, tu_spki_pin_text(P.int_key));
	strcpy(P.leaf_pin, tu_spki_pin_text(P.leaf_key));
	strcpy(P.other_pin, tu_spki_pin_text(P.other_key));
	cert_pin_text(P.der[0], P.len[0], P.leaf_cert_pin);
	cert_pin_text(P.der[1], P.len[1], P.int_cert_pin);
	return 0;
}

static int teardown_pki(void **state)
{
	(void)state;
	for (int i = 0; i < 3; i++)
		free(P.der[i]);
	X509 *xs[] = {P.root, P.inter, P.leaf, P.other, P.rogue_root, P.rogue_leaf, P.cn_only_leaf};
	for (size_t i = 0; i < sizeof xs / sizeof xs[0]; i++)
		X509_free(xs[i]);
	EVP_PKEY *ks[] = {P.root_key, P.int_key, P.leaf_key, P.other_key, P.rogue_key};
	for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++)
		EVP_PKEY_free(ks[i]);
	return 0;
}

/* One-rule policy built through the C API. */
static certpin_policy *policy1(const certpin_rule_spec *spec, certpin_unlisted unlisted)
{
	certpin_builder *b = certpin_builder_new(NULL);
	assert_non_null(b);
	assert_int_equal(certpin_builder_set_unlisted(b, unlisted), CERTPIN_OK);
	certpin_error err;
	if (spec != NULL) {
		certpin_err rc = certpin_builder_add_rule(b, spec, &err);
		if (rc != CERTPIN_OK)
			fail_msg("add_rule: %s: %s", err.path, err.message);
	}
	certpin_policy *p = NULL;
	assert_int_equal(certpin_builder_finish(b, 0, &p, NULL, &err), CERTPIN_OK);
	return p;
}

/* A policy whose one rule pins api.test to pin a (and b, unless NULL). */
static certpin_policy *api_policy(const char *a, const char *b, certpin_unlisted unlisted)
{
	const char *pins[] = {a, b};
	certpin_rule_spec s = {0};
	s.host = "api.test";
	s.pins = pins;
	s.n_pins = b != NULL ? 2 : 1;
	return policy1(&s, unlisted);
}

static certpin_verdict_code eval_code(const certpin_policy *p, const char *host, size_t n, int64_t now)
{
	certpin_verdict *v = NULL;
	assert_int_equal(certpin_evaluate(p, host, P.chain, n, now, &v), CERTPIN_OK);
	certpin_verdict_code c = certpin_verdict_get_code(v);
	certpin_verdict_free(v);
	return c;
}

static certpin_verdict_code eval_pins(const char *host_rule, const char *const *pins, size_t n_pins,
                                      const char *host)
{
	certpin_rule_spec s = {0};
	s.host = host_rule;
	s.pins = pins;
	s.n_pins = n_pins;
	certpin_policy *p = policy1(&s, CERTPIN_UNLISTED_ALLOW);
	certpin_verdict_code c = eval_code(p, host, 3, NOW);
	certpin_policy_free(p);
	return c;
}

static void pin_of_any_chain_position_passes(void **state)
{
	(void)state;
	const char *leaf[] = {P.leaf_pin};
	const char *inter[] = {P.int_pin};
	const char *root[] = {P.root_pin};
	const char *backup_and_leaf[] = {P.other_pin, P.leaf_pin};
	assert_int_equal(eval_pins("api.test", leaf, 1, "api.test"), CERTPIN_V_PINNED);
	assert_int_equal(eval_pins("api.test", inter, 1, "api.test"), CERTPIN_V_PINNED);
	assert_int_equal(eval_pins("api.test", root, 1, "api.test"), CERTPIN_V_PINNED);
	assert_int_equal(eval_pins("api.test", backup_and_leaf, 2, "api.test"), CERTPIN_V_PINNED);
}

static void pin_not_in_chain_is_mismatch(void **state)
{
	(void)state;
	const char *other[] = {P.other_pin};
	assert_int_equal(eval_pins("api.test", other, 1, "api.test"), CERTPIN_V_PIN_MISMATCH);
}

static void whole_certificate_pins_match_only_that_certificate(void **state)
{
	(void)state;
	const char *leafc[] = {P.leaf_cert_pin};
	const char *intc[] = {P.int_cert_pin};
	assert_int_equal(eval_pins("api.test", leafc, 1, "api.test"), CERTPIN_V_PINNED);
	assert_int_equal(eval_pins("api.test", intc, 1, "api.test"), CERTPIN_V_PINNED);
	/* The same key in another certificate: SPKI pin passes, cert pin does not. */
	uint8_t *der = NULL;
	size_t len = 0;
	der = tu_der(P.rogue_leaf, &len);
	certpin_der chain[1] = {{der, len}};
	certpin_rule_spec s = {0};
	s.host = "api.test";
	s.pins = leafc;
	s.n_pins = 1;
	certpin_policy *p = policy1(&s, CERTPIN_UNLISTED_ALLOW);
	certpin_verdict *v = NULL;
	assert_int_equal(certpin_evaluate(p, "api.test", chain, 1, NOW, &v), CERTPIN_OK);
	assert_int_equal(certpin_verdict_get_code(v), CERTPIN_V_PIN_MISMATCH);
	certpin_verdict_free(v);
	certpin_policy_free(p);
	const char *leafk[] = {P.leaf_pin};
	s.pins = leafk;
	p = policy1(&s, CERTPIN_UNLISTED_ALLOW);
	v = NULL;
	assert_int_equal(certpin_evaluate(p, "api.test", chain, 1, NOW, &v), CERTPIN_OK);
	assert_int_equal(certpin_verdict_get_code(v), CERTPIN_V_PINNED);
	certpin_verdict_free(v);
	certpin_policy_free(p);
	free(der);
}

static void leaf_scope_requires_the_leaf(void **state)
{
	(void)state;
	certpin_rule_spec s = {0};
	s.host = "api.test";
	const char *leaf[] = {P.leaf_pin, P.other_pin};
	const char *inter[] = {P.int_pin, P.other_pin};
	s.leaf_pins = leaf;
	s.n_leaf_pins = 2;
	certpin_policy *p = policy1(&s, CERTPIN_UNLISTED_ALLOW);
	assert_int_equal(eval_code(p, "api.test", 3, NOW), CERTPIN_V_PINNED);
	certpin_policy_free(p);
	s.leaf_pins = inter; /* the intermediate's key is not the leaf's */
	p = policy1(&s, CERTPIN_UNLISTED_ALLOW);
	assert_int_equal(eval_code(p, "api.test", 3, NOW), CERTPIN_V_PIN_MISMATCH);
	certpin_policy_free(p);
}

static void ca_scope_requires_a_ca_certificate(void **state)
{
	(void)state;
	certpin_rule_spec s = {0};
	s.host = "api.test";
	const char *inter[] = {P.int_pin};
	const char *leaf[] = {P.leaf_pin};
	s.ca_pins = inter;
	s.n_ca_pins = 1;
	certpin_policy *p = policy1(&s, CERTPIN_UNLISTED_ALLOW);
	assert_int_equal(eval_code(p, "api.test", 3, NOW), CERTPIN_V_PINNED);
	certpin_policy_free(p);
	s.ca_pins = leaf; /* the leaf is not a CA certificate of the chain */
	p = policy1(&s, CERTPIN_UNLISTED_ALLOW);
	assert_int_equal(eval_code(p, "api.test", 3, NOW), CERTPIN_V_PIN_MISMATCH);
	certpin_policy_free(p);
}

static void leaf_and_ca_scopes_must_both_match(void **state)
{
	(void)state;
	certpin_rule_spec s = {0};
	s.host = "api.test";
	const char *leaf[] = {P.leaf_pin};
	const char *root[] = {P.root_pin};
	const char *other[] = {P.other_pin};
	s.leaf_pins = leaf;
	s.n_leaf_pins = 1;
	s.ca_pins = root;
	s.n_ca_pins = 1;
	certpin_policy *p = policy1(&s, CERTPIN_UNLISTED_ALLOW);
	assert_int_equal(eval_code(p, "api.test", 3, NOW), CERTPIN_V_PINNED);
	certpin_policy_free(p);
	s.ca_pins = other;
	p = policy1(&s, CERTPIN_UNLISTED_ALLOW);
	assert_int_equal(eval_code(p, "api.test", 3, NOW), CERTPIN_V_PIN_MISMATCH);
	certpin_policy_free(p);
	s.ca_pins = root;
	s.leaf_pins = other;
	p = policy1(&s, CERTPIN_UNLISTED_ALLOW);
	assert_int_equal(eval_code(p, "api.test", 3, NOW), CERTPIN_V_PIN_MISMATCH);
	certpin_policy_free(p);
}

static void unlisted_host_allowed_or_denied_by_policy(void **state)
{
	(void)state;
	certpin_rule_spec s = {0};
	const char *leaf[] = {P.leaf_pin};
	s.host = "api.test";
	s.pins = leaf;
	s.n_pins = 1;
	certpin_policy *allow = policy1(&s, CERTPIN_UNLISTED_ALLOW);
	certpin_policy *deny = policy1(&s, CERTPIN_UNLISTED_DENY);
	assert_int_equal(eval_code(allow, "other.test", 3, NOW), CERTPIN_V_NOT_PINNED);
	assert_int_equal(eval_code(deny, "other.test", 3, NOW), CERTPIN_V_UNLISTED_HOST);
	assert_int_equal(eval_code(deny, "api.test", 3, NOW), CERTPIN_V_PINNED);
	certpin_policy_free(allow);
	certpin_policy_free(deny);
	certpin_policy *empty = policy1(NULL, CERTPIN_UNLISTED_DENY);
	assert_int_equal(eval_code(empty, "api.test", 3, NOW), CERTPIN_V_UNLISTED_HOST);
	certpin_policy_free(empty);
}

static void exclude_rule_removes_pinning_below_a_pinned_parent(void **state)
{
	(void)state;
	certpin_builder *b = certpin_builder_new(NULL);
	const char *other[] = {P.other_pin, P.root_pin};
	certpin_rule_spec parent = {0}, ex = {0};
	parent.host = "**.svc.test";
	parent.pins = other;
	parent.n_pins = 1; /* only the other key: api.test would mismatch */
	ex.host = "api.svc.test";
	ex.exclude = 1;
	certpin_error err;
	assert_int_equal(certpin_builder_set_unlisted(b, CERTPIN_UNLISTED_DENY), CERTPIN_OK);
	assert_int_equal(certpin_builder_add_rule(b, &parent, &err), CERTPIN_OK);
	assert_int_equal(certpin_builder_add_rule(b, &ex, &err), CERTPIN_OK);
	certpin_policy *p = NULL;
	assert_int_equal(certpin_builder_finish(b, 0, &p, NULL, &err), CERTPIN_OK);
	assert_int_equal(eval_code(p, "api.svc.test", 3, NOW), CERTPIN_V_NOT_PINNED);
	assert_int_equal(eval_code(p, "www.svc.test", 3, NOW), CERTPIN_V_PIN_MISMATCH);
	assert_int_equal(eval_code(p, "a.api.svc.test", 3, NOW), CERTPIN_V_PIN_MISMATCH);
	certpin_policy_free(p);
}

static void most_specific_rule_decides(void **state)
{
	(void)state;
	certpin_builder *b = certpin_builder_new(NULL);
	const char *good[] = {P.int_pin};
	const char *bad[] = {P.other_pin};
	certpin_rule_spec wide = {0}, one = {0}, exact = {0};
	wide.host = "**.svc.test";
	wide.pins = bad;
	wide.n_pins = 1;
	one.host = "*.svc.test";
	one.pins = good;
	one.n_pins = 1;
	exact.host = "api.svc.test";
	exact.pins = bad;
	exact.n_pins = 1;
	certpin_error err;
	assert_int_equal(certpin_builder_add_rule(b, &wide, &err), CERTPIN_OK);
	assert_int_equal(certpin_builder_add_rule(b, &one, &err), CERTPIN_OK);
	assert_int_equal(certpin_builder_add_rule(b, &exact, &err), CERTPIN_OK);
	certpin_policy *p = NULL;
	assert_int_equal(certpin_builder_finish(b, 0, &p, NULL, &err), CERTPIN_OK);
	/* exact beats *.: mismatch; *. beats **. for one label: pinned; deeper: **. */
	assert_int_equal(eval_code(p, "api.svc.test", 3, NOW), CERTPIN_V_PIN_MISMATCH);
	assert_int_equal(eval_code(p, "www.svc.test", 3, NOW), CERTPIN_V_PINNED);
	assert_int_equal(eval_code(p, "a.www.svc.test", 3, NOW), CERTPIN_V_PIN_MISMATCH);
	certpin_verdict *v = NULL;
	assert_int_equal(certpin_evaluate(p, "WWW.Svc.Test.", P.chain, 3, NOW, &v), CERTPIN_OK);
	assert_int_equal(certpin_verdict_get_code(v), CERTPIN_V_PINNED);
	assert_string_equal(certpin_verdict_host(v), "www.svc.test");
	assert_string_equal(certpin_rule_host(certpin_verdict_rule(v)), "*.svc.test");
	certpin_verdict_free(v);
	certpin_policy_free(p);
}

static certpin_policy *expiring(int64_t expires, certpin_on_expiry on, certpin_mode mode,
                                const char *pin)
{
	certpin_rule_spec s = {0};
	const char *pins[] = {pin};
	s.host = "api.test";
	s.pins = pins;
	s.n_pins = 1;
	s.has_expires = 1;
	s.expires = expires;
	s.on_expiry = on;
	s.mode = mode;
	return policy1(&s, CERTPIN_UNLISTED_ALLOW);
}

static void expiry_applies_from_the_boundary_second(void **state)
{
	(void)state;
	int64_t t = 0;
	/* "2027-06-01" means the end of that day: expired from 2027-06-02T00:00:00Z. */
	assert_int_equal(certpin_time_parse("2027-06-01", CERTPIN_TIME_DATE_END, &t, NULL),
	                 CERTPIN_OK);
	certpin_policy *p = expiring(t, CERTPIN_ON_EXPIRY_UNPINNED, CERTPIN_MODE_ENFORCE, P.other_pin);
	assert_int_equal(eval_code(p, "api.test", 3, t - 1), CERTPIN_V_PIN_MISMATCH);
	assert_int_equal(eval_code(p, "api.test", 3, t), CERTPIN_V_EXPIRED_UNPINNED);
	assert_int_equal(eval_code(p, "api.test", 3, t + 86400), CERTPIN_V_EXPIRED_UNPINNED);
	certpin_policy_free(p);
	p = expiring(t, CERTPIN_ON_EXPIRY_BLOCK, CERTPIN_MODE_ENFORCE, P.leaf_pin);
	assert_int_equal(eval_code(p, "api.test", 3, t - 1), CERTPIN_V_PINNED);
	assert_int_equal(eval_code(p, "api.test", 3, t), CERTPIN_V_EXPIRED_BLOCKED);
	certpin_policy_free(p);
}

static void report_mode_allows_a_mismatch_and_says_so(void **state)
{
	(void)state;
	certpin_policy *p = expiring(NOW + 1000, CERTPIN_ON_EXPIRY_UNPINNED, CERTPIN_MODE_REPORT,
	                             P.other_pin);
	certpin_verdict *v = NULL;
	assert_int_equal(certpin_evaluate(p, "api.test", P.chain, 3, NOW, &v), CERTPIN_OK);
	assert_int_equal(certpin_verdict_get_code(v), CERTPIN_V_REPORT_ONLY_MISMATCH);
	assert_true(certpin_verdict_allowed(v));
	char msg[4096];
	certpin_verdict_format(v, msg, sizeof msg);
	assert_non_null(strstr(msg, "mode report"));
	certpin_verdict_free(v);
	certpin_policy_free(p);
	p = expiring(NOW + 1000, CERTPIN_ON_EXPIRY_UNPINNED, CERTPIN_MODE_REPORT, P.int_pin);
	assert_int_equal(eval_code(p, "api.test", 3, NOW), CERTPIN_V_PINNED);
	certpin_policy_free(p);
}

static void failure_message_lists_chain_and_pins(void **state)
{
	(void)state;
	certpin_policy *p = api_policy(P.other_pin, NULL, CERTPIN_UNLISTED_ALLOW);
	certpin_verdict *v = NULL;
	assert_int_equal(certpin_evaluate(p, "api.test", P.chain, 3, NOW, &v), CERTPIN_OK);
	char msg[4096];
	size_t need = certpin_verdict_format(v, msg, sizeof msg);
	assert_true(need < sizeof msg);
	assert_int_equal(need, strlen(msg));
	assert_non_null(strstr(msg, "Certificate pinning failure for api.test (rule api.test):\n"));
	assert_non_null(strstr(msg, "  Validated chain:\n"));
	char line[256];
	snprintf(line, sizeof line, "    %s  CN=api.test\n", P.leaf_pin);
	assert_non_null(strstr(msg, line));
	snprintf(line, sizeof line, "    %s  CN=Test Intermediate\n", P.int_pin);
	assert_non_null(strstr(msg, line));
	snprintf(line, sizeof line, "    %s  CN=Test Root\n", P.root_pin);
	assert_non_null(strstr(msg, line));
	snprintf(line, sizeof line, "  Pinned for api.test:\n    %s\n", P.other_pin);
	assert_non_null(strstr(msg, line));
	/* snprintf-like: a short buffer is truncated and the full length returned */
	char small[16];
	assert_int_equal(certpin_verdict_format(v, small, sizeof small), need);
	assert_int_equal(strlen(small), sizeof small - 1);
	assert_int_equal(certpin_verdict_chain_len(v), 3);
	char pin[CERTPIN_PIN_STRLEN];
	certpin_pin_format(certpin_verdict_chain_pin(v, 0), pin, sizeof pin);
	assert_string_equal(pin, P.leaf_pin);
	assert_null(certpin_verdict_chain_pin(v, 3));
	certpin_verdict_free(v);
	certpin_policy_free(p);
}

static void bad_inputs_fail_closed(void **state)
{
	(void)state;
	const char *leaf[] = {P.leaf_pin};
	certpin_rule_spec s = {0};
	s.host = "api.test";
	s.pins = leaf;
	s.n_pins = 1;
	certpin_policy *p = policy1(&s, CERTPIN_UNLISTED_ALLOW);
	certpin_verdict *v = NULL;

	assert_int_equal(certpin_evaluate(p, NULL, P.chain, 3, NOW, &v), CERTPIN_OK);
	assert_int_equal(certpin_verdict_get_code(v), CERTPIN_V_INTERNAL_ERROR);
	assert_non_null(strstr(certpin_verdict_reason(v), "no host name"));
	assert_int_equal(certpin_evaluate(p, "bad..host", P.chain, 3, NOW, &v), CERTPIN_OK);
	assert_int_equal(certpin_verdict_get_code(v), CERTPIN_V_INTERNAL_ERROR);
	/* an IPv6 spelling of an IPv4 address cannot dodge an IPv4 rule */
	assert_int_equal(certpin_evaluate(p, "::ffff:127.0.0.1", P.chain, 3, NOW, &v), CERTPIN_OK);
	assert_int_equal(certpin_verdict_get_code(v), CERTPIN_V_INTERNAL_ERROR);
	assert_int_equal(certpin_evaluate(p, "api.test", P.chain, 0, NOW, &v), CERTPIN_OK);
	assert_int_equal(certpin_verdict_get_code(v), CERTPIN_V_INTERNAL_ERROR);

	certpin_der many[CERTPIN_MAX_CHAIN + 1];
	for (size_t i = 0; i < CERTPIN_MAX_CHAIN + 1; i++)
		many[i] = P.chain[0];
	assert_int_equal(certpin_evaluate(p, "api.test", many, CERTPIN_MAX_CHAIN + 1, NOW, &v),
	                 CERTPIN_OK);
	assert_int_equal(certpin_verdict_get_code(v), CERTPIN_V_INTERNAL_ERROR);
	assert_int_equal(certpin_evaluate(p, "api.test", many, CERTPIN_MAX_CHAIN, NOW, &v),
	                 CERTPIN_OK);
	assert_int_equal(certpin_verdict_get_code(v), CERTPIN_V_PINNED);

	/* A truncated certificate anywhere in the chain blocks, even if the leaf matches. */
	certpin_der broken[3] = {P.chain[0], P.chain[1], {P.der[2], P.len[2] - 1}};
	assert_int_equal(certpin_evaluate(p, "api.test", broken, 3, NOW, &v), CERTPIN_OK);
	assert_int_equal(certpin_verdict_get_code(v), CERTPIN_V_INTERNAL_ERROR);
	certpin_der null_der[1] = {{NULL, 10}};
	assert_int_equal(certpin_evaluate(p, "api.test", null_der, 1, NOW, &v), CERTPIN_OK);
	assert_int_equal(certpin_verdict_get_code(v), CERTPIN_V_INTERNAL_ERROR);
	assert_false(certpin_verdict_allowed(v));

	assert_int_equal(certpin_evaluate(NULL, "api.test", P.chain, 3, NOW, &v),
	                 CERTPIN_E_INVALID_ARG);
	assert_int_equal(certpin_verdict_get_code(v), CERTPIN_V_INTERNAL_ERROR);
	assert_int_equal(certpin_evaluate(p, "api.test", P.chain, 3, NOW, NULL),
	                 CERTPIN_E_INVALID_ARG);
	certpin_verdict_free(v);
	certpin_policy_free(p);
}

static void verdict_codes_allow_only_the_four_allowed(void **state)
{
	(void)state;
	assert_true(certpin_verdict_code_allowed(CERTPIN_V_PINNED));
	assert_true(certpin_verdict_code_allowed(CERTPIN_V_NOT_PINNED));
	assert_true(certpin_verdict_code_allowed(CERTPIN_V_EXPIRED_UNPINNED));
	assert_true(certpin_verdict_code_allowed(CERTPIN_V_REPORT_ONLY_MISMATCH));
	assert_false(certpin_verdict_code_allowed(CERTPIN_V_PIN_MISMATCH));
	assert_false(certpin_verdict_code_allowed(CERTPIN_V_UNLISTED_HOST));
	assert_false(certpin_verdict_code_allowed(CERTPIN_V_EXPIRED_BLOCKED));
	assert_false(certpin_verdict_code_allowed(CERTPIN_V_CHAIN_INVALID));
	assert_false(certpin_verdict_code_allowed(CERTPIN_V_HOSTNAME_MISMATCH));
	assert_false(certpin_verdict_code_allowed(CERTPIN_V_INTERNAL_ERROR));
	assert_false(certpin_verdict_code_allowed((certpin_verdict_code)0));
	assert_false(certpin_verdict_code_allowed((certpin_verdict_code)999));
	assert_string_equal(certpin_verdict_code_name(CERTPIN_V_PIN_MISMATCH), "PIN_MISMATCH");
	assert_string_equal(certpin_verdict_code_name((certpin_verdict_code)999), "UNKNOWN");
	certpin_verdict *v = certpin_verdict_new();
	assert_false(certpin_verdict_allowed(v)); /* a fresh verdict blocks */
	assert_false(certpin_verdict_allowed(NULL));
	/* set_failure only records failures */
	assert_int_equal(certpin_verdict_set_failure(v, NULL, "api.test", CERTPIN_V_PINNED, "x"),
	                 CERTPIN_OK);
	assert_int_equal(certpin_verdict_get_code(v), CERTPIN_V_INTERNAL_ERROR);
	assert_int_equal(certpin_verdict_set_failure(v, NULL, "api.test", CERTPIN_V_CHAIN_INVALID,
	                                             "expired\ncert"),
	                 CERTPIN_OK);
	assert_int_equal(certpin_verdict_get_code(v), CERTPIN_V_CHAIN_INVALID);
	assert_string_equal(certpin_verdict_reason(v), "expired cert");
	certpin_verdict_free(v);
	certpin_verdict_free(NULL);
}

static void verdict_is_reset_when_reused(void **state)
{
	(void)state;
	certpin_policy *p = api_policy(P.leaf_pin, NULL, CERTPIN_UNLISTED_DENY);
	certpin_verdict *v = NULL;
	assert_int_equal(certpin_evaluate(p, "api.test", P.chain, 3, NOW, &v), CERTPIN_OK);
	assert_int_equal(certpin_verdict_get_code(v), CERTPIN_V_PINNED);
	certpin_verdict *same = v;
	assert_int_equal(certpin_evaluate(p, "x.test", P.chain, 1, NOW, &v), CERTPIN_OK);
	assert_ptr_equal(v, same);
	assert_int_equal(certpin_verdict_get_code(v), CERTPIN_V_UNLISTED_HOST);
	assert_null(certpin_verdict_rule(v));
	assert_int_equal(certpin_verdict_chain_len(v), 1);
	certpin_verdict_free(v);
	certpin_policy_free(p);
}

struct worker {
	const certpin_policy *p;
	int bad;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	certpin_verdict *v = NULL;
	for (int i = 0; i < 2000; i++) {
		const char *host = (i & 1) ? "api.test" : "www.test";
		certpin_verdict_code want = (i & 1) ? CERTPIN_V_PINNED : CERTPIN_V_PIN_MISMATCH;
		if (certpin_evaluate(w->p, host, P.chain, 3, NOW, &v) != CERTPIN_OK ||
		    certpin_verdict_get_code(v) != want)
			w->bad++;
	}
	certpin_verdict_free(v);
	return NULL;
}

static void shared_policy_evaluates_concurrently(void **state)
{
	(void)state;
	certpin_builder *b = certpin_builder_new(NULL);
	const char *good[] = {P.int_pin};
	const char *bad[] = {P.other_pin};
	certpin_rule_spec a = {0}, c = {0};
	a.host = "api.test";
	a.pins = good;
	a.n_pins = 1;
	c.host = "www.test";
	c.pins = bad;
	c.n_pins = 1;
	certpin_error err;
	assert_int_equal(certpin_builder_add_rule(b, &a, &err), CERTPIN_OK);
	assert_int_equal(certpin_builder_add_rule(b, &c, &err), CERTPIN_OK);
	certpin_policy *p = NULL;
	assert_int_equal(certpin_builder_finish(b, 0, &p, NULL, &err), CERTPIN_OK);
	pthread_t t[4];
	struct worker w[4];
	for (int i = 0; i < 4; i++) {
		w[i].p = p;
		w[i].bad = 0;
		assert_int_equal(pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(w[i].bad, 0);
	}
	certpin_policy_free(p);
}

/* ---- OpenSSL validation, then pinning ------------------------------------- */

static X509_STORE *store_with(X509 *a, X509 *b)
{
	X509_STORE *st = X509_STORE_new();
	assert_non_null(st);
	if (a)
		assert_int_equal(X509_STORE_add_cert(st, a), 1);
	if (b)
		assert_int_equal(X509_STORE_add_cert(st, b), 1);
	return st;
}

static certpin_verdict_code verify(const certpin_policy *p, const char *host, X509 *leaf,
                                   X509 *const *extra, int n_extra, X509_STORE *st)
{
	STACK_OF(X509) *untrusted = sk_X509_new_null();
	for (int i = 0; i < n_extra; i++)
		sk_X509_push(untrusted, extra[i]);
	certpin_verdict *v = NULL;
	certpin_err rc = certpin_openssl_verify(p, host, leaf, untrusted, st, NOW, &v);
	assert_int_equal(rc, CERTPIN_OK);
	certpin_verdict_code c = certpin_verdict_get_code(v);
	certpin_verdict_free(v);
	sk_X509_free(untrusted);
	return c;
}

static void validation_runs_before_pinning(void **state)
{
	(void)state;
	const char *inter[] = {P.int_pin, P.other_pin};
	certpin_rule_spec s = {0};
	s.host = "api.test";
	s.pins = inter;
	s.n_pins = 2;
	certpin_policy *p = policy1(&s, CERTPIN_UNLISTED_ALLOW);
	X509_STORE *st = store_with(P.root, NULL);
	X509 *ints[] = {P.inter};
	assert_int_equal(verify(p, "api.test", P.leaf, ints, 1, st), CERTPIN_V_PINNED);
	assert_int_equal(verify(p, "API.TEST.", P.leaf, ints, 1, st), CERTPIN_V_PINNED);
	assert_int_equal(verify(p, "127.0.0.1", P.leaf, ints, 1, st), CERTPIN_V_NOT_PINNED);
	assert_int_equal(verify(p, "other.test", P.leaf, ints, 1, st), CERTPIN_V_HOSTNAME_MISMATCH);
	assert_int_equal(verify(p, "127.0.0.2", P.leaf, ints, 1, st), CERTPIN_V_HOSTNAME_MISMATCH);
	/* no partial wildcards; one-label wildcard only */
	assert_int_equal(verify(p, "a.wild.test", P.leaf, ints, 1, st), CERTPIN_V_NOT_PINNED);
	assert_int_equal(verify(p, "a.b.wild.test", P.leaf, ints, 1, st),
	                 CERTPIN_V_HOSTNAME_MISMATCH);
	/* missing intermediate: the chain does not validate */
	assert_int_equal(verify(p, "api.test", P.leaf, NULL, 0, st), CERTPIN_V_CHAIN_INVALID);
	X509_STORE_free(st);
	certpin_policy_free(p);
}

static void rogue_ca_trusted_by_the_client_is_stopped_by_the_pin(void **state)
{
	(void)state;
	certpin_policy *p = api_policy(P.int_pin, P.root_pin, CERTPIN_UNLISTED_ALLOW);
	X509_STORE *st = store_with(P.root, P.rogue_root);
	/* The rogue leaf validates (its CA is trusted) but carries no pinned key in its chain. */
	assert_int_equal(verify(p, "api.test", P.rogue_leaf, NULL, 0, st), CERTPIN_V_PIN_MISMATCH);
	certpin_policy *empty = policy1(NULL, CERTPIN_UNLISTED_ALLOW);
	assert_int_equal(verify(empty, "api.test", P.rogue_leaf, NULL, 0, st),
	                 CERTPIN_V_NOT_PINNED);
	certpin_policy_free(empty);
	X509_STORE_free(st);
	certpin_policy_free(p);
}

static void appended_pinned_cert_is_rejected(void **state)
{
	(void)state;
	/* CVE-2016-2402: the attacker appends the real pinned intermediate and root. */
	const char *inter[] = {P.int_pin, P.root_pin};
	certpin_rule_spec s = {0};
	s.host = "api.test";
	s.pins = inter;
	s.n_pins = 2;
	certpin_policy *p = policy1(&s, CERTPIN_UNLISTED_ALLOW);
	X509_STORE *st = store_with(P.root, P.rogue_root);
	X509 *appended[] = {P.inter, P.root};
	assert_int_equal(verify(p, "api.test", P.rogue_leaf, appended, 2, st),
	                 CERTPIN_V_PIN_MISMATCH);
	X509_STORE_free(st);
	certpin_policy_free(p);
}

static void webpki_profile_refuses_cn_fallback(void **state)
{
	(void)state;
	const char *inter[] = {P.int_pin};
	certpin_rule_spec s = {0};
	s.host = "api.test";
	s.pins = inter;
	s.n_pins = 1;
	X509_STORE *st = store_with(P.root, NULL);
	X509 *ints[] = {P.inter};
	certpin_policy *p = policy1(&s, CERTPIN_UNLISTED_ALLOW); /* webpki by default */
	assert_int_equal(verify(p, "api.test", P.cn_only_leaf, ints, 1, st),
	                 CERTPIN_V_HOSTNAME_MISMATCH);
	certpin_policy_free(p);
	s.validation = CERTPIN_VALIDATION_OPENSSL;
	p = policy1(&s, CERTPIN_UNLISTED_ALLOW);
	assert_int_equal(verify(p, "api.test", P.cn_only_leaf, ints, 1, st), CERTPIN_V_PINNED);
	certpin_policy_free(p);
	X509_STORE_free(st);
}

static int accept_everything(int ok, X509_STORE_CTX *ctx)
{
	(void)ok;
	(void)ctx;
	return 1;
}

static void application_verify_callback_cannot_rescue_a_forged_chain(void **state)
{
	(void)state;
	/*
	 * A leaf that names the pinned intermediate as its issuer but is signed
	 * by the attacker, with the real intermediate appended. An application's
	 * store callback that accepts every error must not make it PINNED.
	 */
	EVP_PKEY *k = tu_key(TU_P256);
	X509 *forged = tu_cert(k, "api.test", P.inter, P.rogue_key, 0, "DNS:api.test", NOW - 86400,
	                       NOW + 86400);
	const char *inter[] = {P.int_pin, P.other_pin};
	certpin_rule_spec s = {0};
	s.host = "api.test";
	s.pins = inter;
	s.n_pins = 2;
	certpin_policy *p = policy1(&s, CERTPIN_UNLISTED_ALLOW);
	X509_STORE *st = store_with(P.root, NULL);
	X509_STORE_set_verify_cb(st, accept_everything);
	X509 *ints[] = {P.inter};
	assert_int_equal(verify(p, "api.test", forged, ints, 1, st), CERTPIN_V_CHAIN_INVALID);
	/* and the genuine chain still pins through such a store */
	assert_int_equal(verify(p, "api.test", P.leaf, ints, 1, st), CERTPIN_V_PINNED);
	X509_STORE_free(st);
	certpin_policy_free(p);
	X509_free(forged);
	EVP_PKEY_free(k);
}

static int replaced_verify(X509_STORE_CTX *ctx)
{
	(void)ctx;
	return 1;
}

static void store_with_replaced_verification_fails_closed(void **state)
{
	(void)state;
	const char *inter[] = {P.int_pin, P.other_pin};
	certpin_rule_spec s = {0};
	s.host = "api.test";
	s.pins = inter;
	s.n_pins = 2;
	certpin_policy *p = policy1(&s, CERTPIN_UNLISTED_ALLOW);
	X509_STORE *st = store_with(P.root, NULL);
	X509_STORE_set_verify(st, replaced_verify);
	X509 *ints[] = {P.inter};
	assert_int_equal(verify(p, "api.test", P.leaf, ints, 1, st), CERTPIN_V_INTERNAL_ERROR);
	X509_STORE_free(st);
	certpin_policy_free(p);
}

static void store_flags_cannot_switch_off_date_checks(void **state)
{
	(void)state;
	const char *inter[] = {P.int_pin, P.other_pin};
	certpin_rule_spec s = {0};
	s.host = "api.test";
	s.pins = inter;
	s.n_pins = 2;
	certpin_policy *p = policy1(&s, CERTPIN_UNLISTED_ALLOW);
	X509_STORE *st = store_with(P.root, NULL);
	X509_STORE_set_flags(st, X509_V_FLAG_NO_CHECK_TIME | X509_V_FLAG_PARTIAL_CHAIN);
	X509 *ints[] = {P.inter};
	certpin_verdict *v = NULL;
	STACK_OF(X509) *untrusted = sk_X509_new_null();
	sk_X509_push(untrusted, P.inter);
	/* ten years on, every certificate has expired */
	assert_int_equal(certpin_openssl_verify(p, "api.test", P.leaf, untrusted, st,
	                                        NOW + 86400 * 3650, &v),
	                 CERTPIN_OK);
	assert_int_equal(certpin_verdict_get_code(v), CERTPIN_V_CHAIN_INVALID);
	assert_non_null(strstr(certpin_verdict_reason(v), "expired"));
	certpin_verdict_free(v);
	sk_X509_free(untrusted);
	/* PARTIAL_CHAIN from the store does not make the intermediate an anchor */
	X509_STORE *only_int = store_with(P.inter, NULL);
	X509_STORE_set_flags(only_int, X509_V_FLAG_PARTIAL_CHAIN);
	assert_int_equal(verify(p, "api.test", P.leaf, ints, 0, only_int), CERTPIN_V_CHAIN_INVALID);
	X509_STORE_free(only_int);
	X509_STORE_free(st);
	certpin_policy_free(p);
}

static void store_purpose_cannot_replace_serverauth(void **state)
{
	(void)state;
	/* a leaf for api.test whose EKU allows only clientAuth */
	EVP_PKEY *k = tu_key(TU_P256);
	X509 *client_only = tu_cert(k, "api.test", P.inter, P.int_key, 0, "DNS:api.test",
	                            NOW - 86400, NOW + 86400);
	int loc = X509_get_ext_by_NID(client_only, NID_ext_key_usage, -1);
	assert_true(loc >= 0);
	X509_EXTENSION_free(X509_delete_ext(client_only, loc));
	X509V3_CTX v3;
	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, P.inter, client_only, NULL, NULL, 0);
	X509_EXTENSION *eku = X509V3_EXT_conf_nid(NULL, &v3, NID_ext_key_usage, "clientAuth");
	assert_non_null(eku);
	assert_int_equal(X509_add_ext(client_only, eku, -1), 1);
	X509_EXTENSION_free(eku);
	assert_true(X509_sign(client_only, P.int_key, EVP_sha256()) > 0);

	certpin_policy *p = policy1(NULL, CERTPIN_UNLISTED_ALLOW);
	X509 *ints[] = {P.inter};
	static const int purposes[] = {0, X509_PURPOSE_ANY, X509_PURPOSE_SSL_CLIENT};
	for (size_t i = 0; i < sizeof purposes / sizeof purposes[0]; i++) {
		X509_STORE *st = store_with(P.root, NULL);
		if (purposes[i] != 0)
			assert_int_equal(X509_STORE_set_purpose(st, purposes[i]), 1);
		assert_int_equal(verify(p, "api.test", client_only, ints, 1, st),
		                 CERTPIN_V_CHAIN_INVALID);
		assert_int_equal(verify(p, "api.test", P.leaf, ints, 1, st), CERTPIN_V_NOT_PINNED);
		X509_STORE_free(st);
	}
	certpin_policy_free(p);
	X509_free(client_only);
	EVP_PKEY_free(k);
}

static void webpki_profile_refuses_weak_keys_and_ca_leaves(void **state)
{
	(void)state;
	EVP_PKEY *weak = tu_key(TU_RSA1024);
	X509 *weak_leaf = tu_cert(weak, "api.test", P.inter, P.int_key, 0, "DNS:api.test",
	                          NOW - 86400, NOW + 86400);
	X509 *ca_leaf = tu_cert(P.other_key, "api.test", P.inter, P.int_key, 1, "DNS:api.test",
	                        NOW - 86400, NOW + 86400);
	const char *inter[] = {P.int_pin, P.other_pin};
	certpin_rule_spec s = {0};
	s.host = "api.test";
	s.pins = inter;
	s.n_pins = 2;
	X509_STORE *st = store_with(P.root, NULL);
	X509 *ints[] = {P.inter};
	certpin_policy *p = policy1(&s, CERTPIN_UNLISTED_ALLOW);
	assert_int_equal(verify(p, "api.test", weak_leaf, ints, 1, st), CERTPIN_V_CHAIN_INVALID);
	assert_int_equal(verify(p, "api.test", ca_leaf, ints, 1, st), CERTPIN_V_CHAIN_INVALID);
	assert_int_equal(verify(p, "api.test", P.leaf, ints, 1, st), CERTPIN_V_PINNED);
	certpin_policy_free(p);
	s.validation = CERTPIN_VALIDATION_OPENSSL; /* the TLS library's own rules accept both */
	p = policy1(&s, CERTPIN_UNLISTED_ALLOW);
	assert_int_equal(verify(p, "api.test", weak_leaf, ints, 1, st), CERTPIN_V_PINNED);
	assert_int_equal(verify(p, "api.test", ca_leaf, ints, 1, st), CERTPIN_V_PINNED);
	certpin_policy_free(p);
	X509_STORE_free(st);
	X509_free(weak_leaf);
	X509_free(ca_leaf);
	EVP_PKEY_free(weak);
}

static void pinned_trust_anchors_replace_the_trust_store(void **state)
{
	(void)state;
	/* The rule's pin file holds the private intermediate CA: it becomes the only anchor. */
	BIO *bio = BIO_new(BIO_s_mem());
	PEM_write_bio_X509(bio, P.inter);
	char *pem = NULL;
	long n = BIO_get_mem_data(bio, &pem);
	const char *path = tu_write_tmp("private-ca.pem", pem, (size_t)n);
	BIO_free(bio);
	const char *files[] = {path};
	certpin_rule_spec s = {0};
	s.host = "api.test";
	s.pin_files = files;
	s.n_pin_files = 1;
	s.trust_anchors = CERTPIN_ANCHORS_PINNED;
	certpin_policy *p = policy1(&s, CERTPIN_UNLISTED_ALLOW);
	X509_STORE *none = store_with(NULL, NULL);
	X509_STORE *rogue = store_with(P.rogue_root, NULL);
	assert_int_equal(verify(p, "api.test", P.leaf, NULL, 0, none), CERTPIN_V_PINNED);
	/* A CA the system store trusts does not help for this host. */
	assert_int_equal(verify(p, "api.test", P.rogue_leaf, NULL, 0, rogue),
	                 CERTPIN_V_CHAIN_INVALID);
	/* Still validated: wrong name fails. */
	assert_int_equal(verify(p, "api.test", P.cn_only_leaf, NULL, 0, none),
	                 CERTPIN_V_HOSTNAME_MISMATCH);
	X509_STORE_free(none);
	X509_STORE_free(rogue);
	certpin_policy_free(p);
}

/*
 * certpin_openssl_verify takes the key and subject from OpenSSL's objects
 * instead of walking re-encoded DER: both ways must give the same verdict,
 * chain pins, subjects and message.
 */
static void assert_same_verdict(const certpin_verdict *a, const certpin_verdict *b)
{
	assert_int_equal(certpin_verdict_get_code(a), certpin_verdict_get_code(b));
	assert_ptr_equal(certpin_verdict_rule(a), certpin_verdict_rule(b));
	assert_string_equal(certpin_verdict_reason(a), certpin_verdict_reason(b));
	assert_int_equal(certpin_verdict_chain_len(a), certpin_verdict_chain_len(b));
	for (size_t i = 0; i < certpin_verdict_chain_len(a); i++) {
		const certpin_pin *pa = certpin_verdict_chain_pin(a, i);
		const certpin_pin *pb = certpin_verdict_chain_pin(b, i);
		assert_non_null(pa);
		assert_non_null(pb);
		assert_int_equal(pa->type, pb->type);
		assert_memory_equal(pa->hash, pb->hash, CERTPIN_HASH_LEN);
		char sa[512], sb[512];
		assert_int_equal(certpin_verdict_chain_subject(a, i, sa, sizeof sa), CERTPIN_OK);
		assert_int_equal(certpin_verdict_chain_subject(b, i, sb, sizeof sb), CERTPIN_OK);
		assert_string_equal(sa, sb);
	}
	char fa[4096], fb[4096];
	certpin_verdict_format(a, fa, sizeof fa);
	certpin_verdict_format(b, fb, sizeof fb);
	assert_string_equal(fa, fb);
}

/* leaf <- inter <- root (trusted): verify on X509 objects and evaluate on DER, compare. */
static void compare_paths(const certpin_rule_spec *s, X509 *leaf, X509 *inter, X509 *root,
                          certpin_verdict_code want)
{
	certpin_policy *p = policy1(s, CERTPIN_UNLISTED_ALLOW);
	X509_STORE *st = store_with(root, NULL);
	STACK_OF(X509) *untrusted = sk_X509_new_null();
	sk_X509_push(untrusted, inter);
	certpin_verdict *vo = NULL, *vd = NULL;
	assert_int_equal(certpin_openssl_verify(p, "api.test", leaf, untrusted, st, NOW, &vo),
	                 CERTPIN_OK);
	X509 *xs[3] = {leaf, inter, root};
	uint8_t *der[3];
	certpin_der chain[3];
	for (int i = 0; i < 3; i++) {
		der[i] = tu_der(xs[i], &chain[i].len);
		chain[i].der = der[i];
	}
	assert_int_equal(certpin_evaluate(p, "api.test", chain, 3, NOW, &vd), CERTPIN_OK);
	assert_int_equal(certpin_verdict_get_code(vo), want);
	assert_int_equal(certpin_verdict_chain_len(vo), 3);
	assert_same_verdict(vo, vd);
	for (int i = 0; i < 3; i++)
		free(der[i]);
	certpin_verdict_free(vo);
	certpin_verdict_free(vd);
	sk_X509_free(untrusted);
	X509_STORE_free(st);
	certpin_policy_free(p);
}

static void openssl_objects_and_der_give_the_same_verdict(void **state)
{
	(void)state;
	int64_t nb = NOW - 86400 * 30, na = NOW + 86400 * 365;
	const enum tu_key_type types[] = {TU_RSA2048, TU_P256, TU_ED25519};
	for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
		EVP_PKEY *rk = tu_key(types[t]), *ik = tu_key(types[t]), *lk = tu_key(types[t]);
		X509 *root = tu_cert(rk, "Same Root", NULL, NULL, 1, NULL, nb, na);
		X509 *inter = tu_cert(ik, "Same Intermediate", root, rk, 1, NULL, nb, na);
		X509 *leaf = tu_cert(lk, "api.test", inter, ik, 0, "DNS:api.test", nb, na);
		char ipin[64], opin[64];
		strcpy(ipin, tu_spki_pin_text(ik));
		strcpy(opin, P.other_pin);
		const char *hit[] = {ipin, opin};
		const char *miss[] = {opin};
		certpin_rule_spec s = {0};
		s.host = "api.test";
		s.pins = hit;
		s.n_pins = 2;
		/* Ed25519 is a private-PKI key: webpki.key-type refuses it */
		if (types[t] == TU_ED25519)
			s.validation = CERTPIN_VALIDATION_OPENSSL;
		compare_paths(&s, leaf, inter, root, CERTPIN_V_PINNED);
		s.pins = miss; /* the failure message lists the chain's pins and subjects */
		s.n_pins = 1;
		compare_paths(&s, leaf, inter, root, CERTPIN_V_PIN_MISMATCH);
		X509_free(leaf);
		X509_free(inter);
		X509_free(root);
		EVP_PKEY_free(lk);
		EVP_PKEY_free(ik);
		EVP_PKEY_free(rk);
	}
	/* A cert-sha256 pin makes the adapter encode whole certificates too. */
	const char *leafc[] = {P.leaf_cert_pin};
	const char *intc[] = {P.int_cert_pin};
	const char *other[] = {P.other_pin, P.int_cert_pin};
	certpin_rule_spec s = {0};
	s.host = "api.test";
	s.pins = leafc;
	s.n_pins = 1;
	compare_paths(&s, P.leaf, P.inter, P.root, CERTPIN_V_PINNED);
	s.pins = intc;
	compare_paths(&s, P.leaf, P.inter, P.root, CERTPIN_V_PINNED);
	s.leaf_pins = other;
	s.n_leaf_pins = 2;
	compare_paths(&s, P.leaf, P.inter, P.root, CERTPIN_V_PIN_MISMATCH);
}

static void slices_without_the_whole_certificate_fail_closed_for_cert_pins(void **state)
{
	(void)state;
	cp_chain_slices sl[3];
	for (int i = 0; i < 3; i++) {
		cp_cert_view view;
		assert_int_equal(cp_der_cert_view(P.der[i], P.len[i], &view), CERTPIN_OK);
		sl[i].spki = view.spki;
		sl[i].subject = view.subject;
		sl[i].whole = view.whole;
	}
	const char *leafc[] = {P.leaf_cert_pin};
	const char *intk[] = {P.int_pin};
	certpin_rule_spec s = {0};
	s.host = "api.test";
	s.pins = leafc;
	s.n_pins = 1;
	certpin_policy *p = policy1(&s, CERTPIN_UNLISTED_ALLOW);
	certpin_verdict *v = NULL;
	assert_int_equal(cp_evaluate_slices(p, "api.test", sl, 3, NOW, &v), CERTPIN_OK);
	assert_int_equal(certpin_verdict_get_code(v), CERTPIN_V_PINNED);
	/* The rule has a cert-sha256 pin and the leaf is not whole: blocked. */
	sl[0].whole.p = NULL;
	sl[0].whole.n = 0;
	assert_int_equal(cp_evaluate_slices(p, "api.test", sl, 3, NOW, &v), CERTPIN_OK);
	assert_int_equal(certpin_verdict_get_code(v), CERTPIN_V_INTERNAL_ERROR);
	certpin_policy_free(p);
	/* A key pin does not need it. */
	s.pins = intk;
	p = policy1(&s, CERTPIN_UNLISTED_ALLOW);
	assert_int_equal(cp_evaluate_slices(p, "api.test", sl, 3, NOW, &v), CERTPIN_OK);
	assert_int_equal(certpin_verdict_get_code(v), CERTPIN_V_PINNED);
	/* No key or no subject: blocked. */
	cp_slice keep = sl[1].spki;
	sl[1].spki.p = NULL;
	assert_int_equal(cp_evaluate_slices(p, "api.test", sl, 3, NOW, &v), CERTPIN_OK);
	assert_int_equal(certpin_verdict_get_code(v), CERTPIN_V_INTERNAL_ERROR);
	sl[1].spki = keep;
	sl[2].subject.p = NULL;
	assert_int_equal(cp_evaluate_slices(p, "api.test", sl, 3, NOW, &v), CERTPIN_OK);
	assert_int_equal(certpin_verdict_get_code(v), CERTPIN_V_INTERNAL_ERROR);
	assert_int_equal(cp_evaluate_slices(p, "api.test", NULL, 3, NOW, &v), CERTPIN_E_INVALID_ARG);
	assert_int_equal(certpin_verdict_get_code(v), CERTPIN_V_INTERNAL_ERROR);
	certpin_verdict_free(v);
	certpin_policy_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(pin_of_any_chain_position_passes),
		cmocka_unit_test(pin_not_in_chain_is_mismatch),
		cmocka_unit_test(whole_certificate_pins_match_only_that_certificate),
		cmocka_unit_test(leaf_scope_requires_the_leaf),
		cmocka_unit_test(ca_scope_requires_a_ca_certificate),
		cmocka_unit_test(leaf_and_ca_scopes_must_both_match),
		cmocka_unit_test(unlisted_host_allowed_or_denied_by_policy),
		cmocka_unit_test(exclude_rule_removes_pinning_below_a_pinned_parent),
		cmocka_unit_test(most_specific_rule_decides),
		cmocka_unit_test(expiry_applies_from_the_boundary_second),
		cmocka_unit_test(report_mode_allows_a_mismatch_and_says_so),
		cmocka_unit_test(failure_message_lists_chain_and_pins),
		cmocka_unit_test(bad_inputs_fail_closed),
		cmocka_unit_test(verdict_codes_allow_only_the_four_allowed),
		cmocka_unit_test(verdict_is_reset_when_reused),
		cmocka_unit_test(shared_policy_evaluates_concurrently),
		cmocka_unit_test(validation_runs_before_pinning),
		cmocka_unit_test(rogue_ca_trusted_by_the_client_is_stopped_by_the_pin),
		cmocka_unit_test(appended_pinned_cert_is_rejected),
		cmocka_unit_test(webpki_profile_refuses_cn_fallback),
		cmocka_unit_test(pinned_trust_anchors_replace_the_trust_store),
		cmocka_unit_test(application_verify_callback_cannot_rescue_a_forged_chain),
		cmocka_unit_test(store_with_replaced_verification_fails_closed),
		cmocka_unit_test(store_flags_cannot_switch_off_date_checks),
		cmocka_unit_test(webpki_profile_refuses_weak_keys_and_ca_leaves),
		cmocka_unit_test(store_purpose_cannot_replace_serverauth),
		cmocka_unit_test(openssl_objects_and_der_give_the_same_verdict),
		cmocka_unit_test(slices_without_the_whole_certificate_fail_closed_for_cert_pins),
	};
	return cmocka_run_group_tests(tests, setup_pki, teardown_pki);
}
