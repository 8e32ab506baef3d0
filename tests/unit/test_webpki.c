/*
 * The webpki validation profile's named rules (src/tls/webpki_openssl.c,
 * docs/webpki.md): for every rule a chain that breaks only that rule, built
 * here, is refused under "webpki" with the rule's name in the verdict
 * reason, and accepted under "openssl" (OpenSSL's own rules); the
 * well-formed chain passes every rule. Plus the path-building changes:
 * an alternative path after a dead end, the store's depth limit, and the
 * inclusive notAfter second.
 *
 * Built a second time for the mbedTLS build (CERTPIN_TEST_MBEDTLS,
 * tests/mbedtls/CMakeLists.txt): the same chains, made with OpenSSL, go
 * through certpin_mbedtls_verify, and the rules mbedTLS can see must refuse
 * them with the same names. OpenSSL-only tests (path building, EdDSA keys,
 * CA name constraints, which mbedTLS 2.28 cannot parse) are left out there.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "certpin/certpin.h"
#ifdef CERTPIN_TEST_MBEDTLS
#include "certpin/certpin_mbedtls.h"
#else
#include "certpin/certpin_openssl.h"
#endif
#include "testutil.h"

#define NOW INT64_C(1767225600) /* 2026-01-01 */
#define NB (NOW - 86400 * 30)
#define NA (NOW + 86400 * 365)

/* What a certificate of the test chain gets; the defaults are web-PKI clean. */
typedef struct spec {
	EVP_PKEY *key;
	const char *cn;      /* NULL: empty subject */
	int ca;
	const char *exts[8]; /* "NAME:VALUE" for X509V3_EXT_conf (value may start "critical,") */
	int no_ski, no_aki, v1;
	long serial;         /* 0 keeps the default; -1 for zero; -2 for 21 octets */
	const unsigned char *raw_ext; /* a DER extension appended as is */
	size_t raw_len;
} spec;

static EVP_PKEY *k_root, *k_int, *k_leaf;

#ifndef CERTPIN_TEST_MBEDTLS
/* No rules: the verdict is validation alone (webpki by default). */
static certpin_err empty_policy(certpin_policy **p, certpin_error *err)
{
	static const char json[] = "{\"certpin\":1,\"domains\":[]}";
	return certpin_policy_load_mem(json, sizeof json - 1, NULL, NULL, 0, p, NULL, err);
}
#endif

static int setup(void **state)
{
	(void)state;
	k_root = tu_key(TU_P256);
	k_int = tu_key(TU_P256);
	k_leaf = tu_key(TU_P256);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	EVP_PKEY_free(k_root);
	EVP_PKEY_free(k_int);
	EVP_PKEY_free(k_leaf);
	return 0;
}

static void add_conf(X509 *x, X509 *issuer, const char *nv)
{
	char name[64];
	const char *colon = strchr(nv, '=');
	assert_non_null(colon);
	size_t n = (size_t)(colon - nv);
	assert_true(n < sizeof name);
	memcpy(name, nv, n);
	name[n] = '\0';
	X509V3_CTX ctx;
	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer != NULL ? issuer : x, x, NULL, NULL, 0);
	X509_EXTENSION *e = X509V3_EXT_conf(NULL, &ctx, name, colon + 1);
	if (e == NULL)
		fail_msg("extension %s", nv);
	assert_int_equal(X509_add_ext(x, e, -1), 1);
	X509_EXTENSION_free(e);
}

static X509 *make(const spec *s, X509 *issuer, EVP_PKEY *issuer_key)
{
	static long serial = 5000;
	X509 *x = X509_new();
	assert_non_null(x);
	assert_int_equal(X509_set_version(x, s->v1 ? X509_VERSION_1 : X509_VERSION_3), 1);
	ASN1_INTEGER *sn = X509_get_serialNumber(x);
	if (s->serial == -1) {
		ASN1_INTEGER_set(sn, 0);
	} else if (s->serial == -2) {
		unsigned char big[21];
		memset(big, 0x5a, sizeof big);
		BIGNUM *bn = BN_bin2bn(big, (int)sizeof big, NULL);
		assert_non_null(BN_to_ASN1_INTEGER(bn, sn));
		BN_free(bn);
	} else {
		ASN1_INTEGER_set(sn, s->serial ? s->serial : ++serial);
	}
	X509_NAME *name = X509_get_subject_name(x);
	if (s->cn != NULL)
		X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)s->cn, -1,
		                           -1, 0);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
	ASN1_TIME_set(X509_getm_notBefore(x), (time_t)NB);
	ASN1_TIME_set(X509_getm_notAfter(x), (time_t)NA);
	X509_set_pubkey(x, s->key);
	if (!s->v1) {
		if (!s->no_ski)
			add_conf(x, issuer, "subjectKeyIdentifier=hash");
		if (issuer != NULL && !s->no_aki)
			add_conf(x, issuer,
			         X509_get0_subject_key_id(issuer) != NULL
			             ? "authorityKeyIdentifier=keyid:always"
			             : "authorityKeyIdentifier=issuer:always");
		if (s->ca) {
			add_conf(x, issuer, "basicConstraints=critical,CA:TRUE");
			add_conf(x, issuer, "keyUsage=critical,keyCertSign,cRLSign,digitalSignature");
		}
		for (size_t i = 0; i < 8 && s->exts[i] != NULL; i++)
			add_conf(x, issuer, s->exts[i]);
		if (s->raw_ext != NULL) {
			const unsigned char *p = s->raw_ext;
			X509_EXTENSION *e = d2i_X509_EXTENSION(NULL, &p, (long)s->raw_len);
			assert_non_null(e);
			assert_int_equal(X509_add_ext(x, e, -1), 1);
			X509_EXTENSION_free(e);
		}
	}
	assert_true(X509_sign(x, issuer ? issuer_key : s->key, EVP_sha256()) > 0);
	return x;
}

#define LEAF_OK                                                                              \
	{                                                                                    \
		k_leaf, "api.test", 0,                                                       \
		    {"basicConstraints=critical,CA:FALSE", "keyUsage=critical,digitalSignature", \
		     "extendedKeyUsage=serverAuth", "subjectAltName=DNS:api.test"},             \
		    0, 0, 0, 0, NULL, 0                                                          \
	}
#define INT_OK                                                                               \
	{                                                                                    \
		k_int, "Test Intermediate", 1, {NULL}, 0, 0, 0, 0, NULL, 0                    \
	}
#define ROOT_OK                                                                              \
	{                                                                                    \
		k_root, "Test Root", 1, {NULL}, 0, 0, 0, 0, NULL, 0                           \
	}

/* Validates leaf <- inter <- root (root trusted) for host under profile v. */
static certpin_verdict *run(const spec *root_s, const spec *int_s, const spec *leaf_s,
                            const char *host, certpin_validation v)
{
	X509 *root = make(root_s, NULL, NULL);
	X509 *inter = make(int_s, root, root_s->key);
	X509 *leaf = make(leaf_s, inter, int_s->key);
	certpin_builder *b = certpin_builder_new(NULL);
	assert_int_equal(certpin_builder_set_validation(b, v), CERTPIN_OK);
	certpin_policy *p = NULL;
	certpin_error err;
	assert_int_equal(certpin_builder_finish(b, 0, &p, NULL, &err), CERTPIN_OK);
	certpin_verdict *vd = NULL;
#ifdef CERTPIN_TEST_MBEDTLS
	mbedtls_x509_crt chain, trust;
	mbedtls_x509_crt_init(&chain);
	mbedtls_x509_crt_init(&trust);
	X509 *in_chain[] = {leaf, inter, root};
	for (int k = 0; k < 3; k++) {
		unsigned char *der = NULL;
		int len = i2d_X509(in_chain[k], &der);
		assert_true(len > 0);
		int rc = mbedtls_x509_crt_parse_der(k < 2 ? &chain : &trust, der, (size_t)len);
		OPENSSL_free(der);
		if (rc != 0)
			fail_msg("mbedTLS cannot parse certificate %d: -0x%x", k, (unsigned)-rc);
	}
	assert_int_equal(certpin_mbedtls_verify(p, host, &chain, &trust, NOW, &vd), CERTPIN_OK);
	mbedtls_x509_crt_free(&chain);
	mbedtls_x509_crt_free(&trust);
	certpin_policy_free(p);
#else
	X509_STORE *st = X509_STORE_new();
	assert_int_equal(X509_STORE_add_cert(st, root), 1);
	STACK_OF(X509) *untrusted = sk_X509_new_null();
	sk_X509_push(untrusted, inter);
	assert_int_equal(certpin_openssl_verify(p, host, leaf, untrusted, st, NOW, &vd), CERTPIN_OK);
	certpin_policy_free(p);
	sk_X509_free(untrusted);
	X509_STORE_free(st);
#endif
	X509_free(leaf);
	X509_free(inter);
	X509_free(root);
	return vd;
}

/* webpki refuses with `rule` first in the reason; openssl accepts. */
static void expect_rule(const spec *root_s, const spec *int_s, const spec *leaf_s,
                        const char *host, const char *rule, certpin_verdict_code code)
{
	certpin_verdict *v = run(root_s, int_s, leaf_s, host, CERTPIN_VALIDATION_WEBPKI);
	const char *reason = certpin_verdict_reason(v);
	if (certpin_verdict_get_code(v) != code || strncmp(reason, rule, strlen(rule)) != 0 ||
	    reason[strlen(rule)] != ':')
		fail_msg("want %s (%d), got %d: %s", rule, (int)code, (int)certpin_verdict_get_code(v),
		         reason);
	certpin_verdict_free(v);
#ifdef CERTPIN_TEST_MBEDTLS
	/* "openssl" is mbedTLS's own check there, and mbedTLS 2.28 matches no IP SAN */
	if (strchr(host, ':') != NULL || strspn(host, "0123456789.") == strlen(host))
		return;
#endif
	v = run(root_s, int_s, leaf_s, host, CERTPIN_VALIDATION_OPENSSL);
	if (!certpin_verdict_allowed(v))
		fail_msg("openssl profile refused (%s): %s", rule, certpin_verdict_reason(v));
	certpin_verdict_free(v);
}

static void expect_leaf_rule(const spec *leaf_s, const char *host, const char *rule)
{
	spec r = ROOT_OK, i = INT_OK;
	expect_rule(&r, &i, leaf_s, host, rule, CERTPIN_V_CHAIN_INVALID);
}

static void clean_chain_passes_every_rule(void **state)
{
	(void)state;
	spec r = ROOT_OK, i = INT_OK, l = LEAF_OK;
	for (int v = CERTPIN_VALIDATION_WEBPKI; v <= CERTPIN_VALIDATION_OPENSSL; v++) {
		certpin_verdict *vd = run(&r, &i, &l, "api.test", (certpin_validation)v);
		if (certpin_verdict_get_code(vd) != CERTPIN_V_NOT_PINNED)
			fail_msg("profile %d: %s", v, certpin_verdict_reason(vd));
		certpin_verdict_free(vd);
	}
	/* a wildcard below a registrable domain, an IP SAN with its CN, P-384 and RSA keys */
	spec w = LEAF_OK;
	w.cn = "*.example.com";
	w.exts[3] = "subjectAltName=DNS:*.example.com";
	certpin_verdict *vd = run(&r, &i, &w, "www.example.com", CERTPIN_VALIDATION_WEBPKI);
	assert_int_equal(certpin_verdict_get_code(vd), CERTPIN_V_NOT_PINNED);
	certpin_verdict_free(vd);
	spec ip = LEAF_OK;
	ip.cn = "2001:db8::1";
	ip.exts[3] = "subjectAltName=IP:2001:DB8:0:0:0:0:0:1";
	vd = run(&r, &i, &ip, "2001:db8::1", CERTPIN_VALIDATION_WEBPKI);
	if (certpin_verdict_get_code(vd) != CERTPIN_V_NOT_PINNED)
		fail_msg("ip: %s", certpin_verdict_reason(vd));
	certpin_verdict_free(vd);
	EVP_PKEY *k384 = tu_key(TU_P384), *krsa = tu_key(TU_RSA2048);
	spec l384 = LEAF_OK, irsa = INT_OK;
	l384.key = k384;
	irsa.key = krsa;
	vd = run(&r, &irsa, &l384, "api.test", CERTPIN_VALIDATION_WEBPKI);
	if (certpin_verdict_get_code(vd) != CERTPIN_V_NOT_PINNED)
		fail_msg("p384/rsa: %s", certpin_verdict_reason(vd));
	certpin_verdict_free(vd);
	EVP_PKEY_free(k384);
	EVP_PKEY_free(krsa);
}

#ifndef CERTPIN_TEST_MBEDTLS
static void leaf_must_be_v3(void **state)
{
	(void)state;
	spec l = LEAF_OK;
	l.v1 = 1; /* no extensions at all: OpenSSL finds no SAN, webpki names why */
	spec r = ROOT_OK, i = INT_OK;
	certpin_verdict *v = run(&r, &i, &l, "api.test", CERTPIN_VALIDATION_WEBPKI);
	assert_int_equal(certpin_verdict_get_code(v), CERTPIN_V_HOSTNAME_MISMATCH);
	assert_non_null(strstr(certpin_verdict_reason(v), "webpki.v3:"));
	certpin_verdict_free(v);
}
#endif

#ifndef CERTPIN_TEST_MBEDTLS
static void leaf_needs_a_san(void **state)
{
	(void)state;
	spec l = LEAF_OK;
	l.exts[3] = NULL;
	spec r = ROOT_OK, i = INT_OK;
	certpin_verdict *v = run(&r, &i, &l, "api.test", CERTPIN_VALIDATION_WEBPKI);
	assert_int_equal(certpin_verdict_get_code(v), CERTPIN_V_HOSTNAME_MISMATCH);
	assert_non_null(strstr(certpin_verdict_reason(v), "webpki.san-present:"));
	certpin_verdict_free(v);
}
#endif

static void leaf_eku_must_be_server_auth(void **state)
{
	(void)state;
	spec l = LEAF_OK;
	l.exts[2] = "subjectAltName=DNS:api.test"; /* no EKU: sslserver accepts that */
	l.exts[3] = NULL;
	expect_leaf_rule(&l, "api.test", "webpki.eku-server-auth");
	spec any = LEAF_OK;
	any.exts[2] = "extendedKeyUsage=serverAuth,anyExtendedKeyUsage";
	expect_leaf_rule(&any, "api.test", "webpki.eku-server-auth");
	spec crit = LEAF_OK;
	crit.exts[2] = "extendedKeyUsage=critical,serverAuth";
	expect_leaf_rule(&crit, "api.test", "webpki.eku-server-auth");
}

static void leaf_key_usage_has_no_cert_sign(void **state)
{
	(void)state;
	spec l = LEAF_OK;
	l.exts[1] = "keyUsage=critical,digitalSignature,keyCertSign";
	expect_leaf_rule(&l, "api.test", "webpki.leaf-key-usage");
}

static void leaf_is_not_a_ca(void **state)
{
	(void)state;
	spec l = LEAF_OK;
	l.exts[0] = "basicConstraints=critical,CA:TRUE";
	spec r = ROOT_OK, i = INT_OK;
	certpin_verdict *v = run(&r, &i, &l, "api.test", CERTPIN_VALIDATION_WEBPKI);
	assert_int_equal(certpin_verdict_get_code(v), CERTPIN_V_CHAIN_INVALID);
	assert_non_null(strstr(certpin_verdict_reason(v), "webpki.leaf-not-ca:"));
	certpin_verdict_free(v);
}

static void san_criticality_follows_the_subject(void **state)
{
	(void)state;
	spec l = LEAF_OK;
	l.exts[3] = "subjectAltName=critical,DNS:api.test";
	expect_leaf_rule(&l, "api.test", "webpki.san-criticality");
	spec e = LEAF_OK;
	e.cn = NULL; /* empty subject: the SAN must be critical */
	expect_leaf_rule(&e, "api.test", "webpki.san-criticality");
	e.exts[3] = "subjectAltName=critical,DNS:api.test";
	certpin_verdict *v = NULL;
	spec r = ROOT_OK, i = INT_OK;
	v = run(&r, &i, &e, "api.test", CERTPIN_VALIDATION_WEBPKI);
	assert_int_equal(certpin_verdict_get_code(v), CERTPIN_V_NOT_PINNED);
	certpin_verdict_free(v);
}

static void san_dns_names_are_host_names(void **state)
{
	(void)state;
	spec l = LEAF_OK;
	l.exts[3] = "subjectAltName=DNS:api.test,DNS:under_score.test";
	expect_leaf_rule(&l, "api.test", "webpki.san-dns-syntax");
}

static void cn_must_copy_a_san(void **state)
{
	(void)state;
	spec l = LEAF_OK;
	l.cn = "API.test"; /* same name, other case: not a character-for-character copy */
	expect_leaf_rule(&l, "api.test", "webpki.cn-in-san");
	spec ip = LEAF_OK;
	ip.cn = "127.000.000.001"; /* not the canonical text of the IP SAN */
	ip.exts[3] = "subjectAltName=IP:127.0.0.1";
	expect_leaf_rule(&ip, "127.0.0.1", "webpki.cn-in-san");
}

static void wildcard_over_public_suffix_is_refused(void **state)
{
	(void)state;
	spec l = LEAF_OK;
	l.cn = "*.co.uk";
	l.exts[3] = "subjectAltName=DNS:*.co.uk";
	expect_leaf_rule(&l, "foo.co.uk", "webpki.public-suffix-wildcard");
	spec priv = LEAF_OK; /* the list's private section */
	priv.cn = "*.s3.amazonaws.com";
	priv.exts[3] = "subjectAltName=DNS:*.s3.amazonaws.com";
	expect_leaf_rule(&priv, "bucket.s3.amazonaws.com", "webpki.public-suffix-wildcard");
	/* the same certificate for a name it lists exactly is fine */
	spec both = LEAF_OK;
	both.cn = "s3.amazonaws.com";
	both.exts[3] = "subjectAltName=DNS:s3.amazonaws.com,DNS:*.s3.amazonaws.com";
	spec r = ROOT_OK, i = INT_OK;
	certpin_verdict *v = run(&r, &i, &both, "s3.amazonaws.com", CERTPIN_VALIDATION_WEBPKI);
	assert_int_equal(certpin_verdict_get_code(v), CERTPIN_V_NOT_PINNED);
	certpin_verdict_free(v);
}

static void key_types_are_allow_listed(void **state)
{
	(void)state;
#ifndef CERTPIN_TEST_MBEDTLS /* mbedTLS 2.28 cannot parse EdDSA keys */
	EVP_PKEY *ed = tu_key(TU_ED25519);
	spec l = LEAF_OK;
	l.key = ed;
	expect_leaf_rule(&l, "api.test", "webpki.key-type");
	EVP_PKEY_free(ed);
#endif
	EVP_PKEY *odd = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2056 + 4);
	assert_non_null(odd);
	spec r = ROOT_OK, i = INT_OK, ok = LEAF_OK;
	i.key = odd; /* RSA-2060: long enough, not a multiple of 8 */
	expect_rule(&r, &i, &ok, "api.test", "webpki.key-type", CERTPIN_V_CHAIN_INVALID);
	EVP_PKEY_free(odd);
	EVP_PKEY *p521 = tu_key(TU_P521);
	spec l521 = LEAF_OK;
	l521.key = p521; /* allowed: CABF BR 6.1.5 lists P-521 */
	spec r2 = ROOT_OK, i2 = INT_OK;
	certpin_verdict *v = run(&r2, &i2, &l521, "api.test", CERTPIN_VALIDATION_WEBPKI);
	assert_int_equal(certpin_verdict_get_code(v), CERTPIN_V_NOT_PINNED);
	certpin_verdict_free(v);
	EVP_PKEY_free(p521);
}

static void serial_numbers_are_positive_and_short(void **state)
{
	(void)state;
	spec l = LEAF_OK;
	l.serial = -1;
	expect_leaf_rule(&l, "api.test", "webpki.serial-number");
	l.serial = -2;
	expect_leaf_rule(&l, "api.test", "webpki.serial-number");
}

static void ca_certificates_are_well_formed(void **state)
{
	(void)state;
	spec r = ROOT_OK, i = INT_OK, l = LEAF_OK;
	i.no_ski = 1;
	expect_rule(&r, &i, &l, "api.test", "webpki.ca-ski", CERTPIN_V_CHAIN_INVALID);
	spec i2 = INT_OK;
	i2.no_aki = 1;
	expect_rule(&r, &i2, &l, "api.test", "webpki.aki-key-id", CERTPIN_V_CHAIN_INVALID);
	spec rr = ROOT_OK; /* a root's AKI, if any, names a key */
	rr.exts[0] = "authorityKeyIdentifier=issuer:always";
	spec i3 = INT_OK;
	expect_rule(&rr, &i3, &l, "api.test", "webpki.aki-key-id", CERTPIN_V_CHAIN_INVALID);
	spec i4 = INT_OK;
	i4.exts[0] = "policyConstraints=requireExplicitPolicy:5";
	expect_rule(&r, &i4, &l, "api.test", "webpki.policy-constraints-critical",
	            CERTPIN_V_CHAIN_INVALID);
}

/* A root whose basicConstraints is not critical: OpenSSL trusts it anyway. */
static void root_basic_constraints_must_be_critical(void **state)
{
	(void)state;
	spec r = ROOT_OK, i = INT_OK, l = LEAF_OK;
	r.ca = 0;
	r.exts[0] = "basicConstraints=CA:TRUE";
	r.exts[1] = "keyUsage=critical,keyCertSign,cRLSign";
	expect_rule(&r, &i, &l, "api.test", "webpki.ca-basic-constraints", CERTPIN_V_CHAIN_INVALID);
}

#ifndef CERTPIN_TEST_MBEDTLS
static void name_constraints_are_checked_where_openssl_does_not(void **state)
{
	(void)state;
	spec r = ROOT_OK, l = LEAF_OK;
	/* an excluded subtree one label below the wildcard's base */
	spec i = INT_OK;
	i.exts[0] = "nameConstraints=critical,excluded;DNS:bar.example.com";
	spec w = LEAF_OK;
	w.cn = "*.example.com";
	w.exts[3] = "subjectAltName=DNS:*.example.com";
	expect_rule(&r, &i, &w, "foo.example.com", "webpki.name-constraints",
	            CERTPIN_V_CHAIN_INVALID);
	/* a malformed constraint (leading period) */
	spec i2 = INT_OK;
	i2.exts[0] = "nameConstraints=critical,permitted;DNS:.test";
	expect_rule(&r, &i2, &l, "api.test", "webpki.name-constraints", CERTPIN_V_CHAIN_INVALID);
	/* nameConstraints in the leaf */
	spec l2 = LEAF_OK;
	l2.exts[4] = "nameConstraints=critical,permitted;DNS:test";
	expect_leaf_rule(&l2, "api.test", "webpki.name-constraints");
	/* both subtree lists empty: SEQUENCE { [0] {}, [1] {} } */
	static const unsigned char empty_nc[] = {0x30, 0x0e, 0x06, 0x03, 0x55, 0x1d, 0x1e, 0x01,
	                                         0x01, 0xff, 0x04, 0x04, 0x30, 0x02, 0xa0, 0x00};
	spec i3 = INT_OK;
	i3.raw_ext = empty_nc;
	i3.raw_len = sizeof empty_nc;
	certpin_verdict *v = run(&r, &i3, &l, "api.test", CERTPIN_VALIDATION_WEBPKI);
	assert_int_equal(certpin_verdict_get_code(v), CERTPIN_V_CHAIN_INVALID);
	assert_non_null(strstr(certpin_verdict_reason(v), "webpki.name-constraints:"));
	certpin_verdict_free(v);
	/* a permitted subtree that holds the name passes */
	spec i4 = INT_OK;
	i4.exts[0] = "nameConstraints=critical,permitted;DNS:test";
	v = run(&r, &i4, &l, "api.test", CERTPIN_VALIDATION_WEBPKI);
	assert_int_equal(certpin_verdict_get_code(v), CERTPIN_V_NOT_PINNED);
	certpin_verdict_free(v);
}
#endif

/* nameConstraints belong in CA certificates (here non-critical: mbedTLS 2.28 parses that). */
static void leaf_name_constraints_are_refused(void **state)
{
	(void)state;
	spec l = LEAF_OK;
	l.exts[4] = "nameConstraints=permitted;DNS:test";
	expect_leaf_rule(&l, "api.test", "webpki.name-constraints");
}

static void aia_needs_an_access_description(void **state)
{
	(void)state;
	/* authorityInfoAccess: SEQUENCE OF with no element */
	static const unsigned char empty_aia[] = {0x30, 0x0e, 0x06, 0x08, 0x2b, 0x06, 0x01, 0x05,
	                                          0x05, 0x07, 0x01, 0x01, 0x04, 0x02, 0x30, 0x00};
	spec l = LEAF_OK;
	l.raw_ext = empty_aia;
	l.raw_len = sizeof empty_aia;
	expect_leaf_rule(&l, "api.test", "webpki.aia-syntax");
}

#ifndef CERTPIN_TEST_MBEDTLS
/* notAfter is inclusive (RFC 5280 4.1.2.5): valid during its last second. */
static void not_after_second_is_still_valid(void **state)
{
	(void)state;
	EVP_PKEY *rk = tu_key(TU_P256), *lk = tu_key(TU_P256);
	X509 *root = tu_cert(rk, "Edge Root", NULL, NULL, 1, NULL, NB, NA);
	X509 *leaf = tu_cert(lk, "api.test", root, rk, 0, "DNS:api.test", NB, NOW);
	X509_STORE *st = X509_STORE_new();
	X509_STORE_add_cert(st, root);
	certpin_policy *p = NULL;
	certpin_error err;
	assert_int_equal(empty_policy(&p, &err), CERTPIN_OK);
	certpin_verdict *v = NULL;
	assert_int_equal(certpin_openssl_verify(p, "api.test", leaf, NULL, st, NOW, &v), CERTPIN_OK);
	if (certpin_verdict_get_code(v) != CERTPIN_V_NOT_PINNED)
		fail_msg("at notAfter: %s", certpin_verdict_reason(v));
	assert_int_equal(certpin_openssl_verify(p, "api.test", leaf, NULL, st, NOW + 1, &v),
	                 CERTPIN_OK);
	assert_int_equal(certpin_verdict_get_code(v), CERTPIN_V_CHAIN_INVALID);
	certpin_verdict_free(v);
	certpin_policy_free(p);
	X509_STORE_free(st);
	X509_free(leaf);
	X509_free(root);
	EVP_PKEY_free(lk);
	EVP_PKEY_free(rk);
}
#endif

#ifndef CERTPIN_TEST_MBEDTLS
/*
 * Two intermediates with the same name and key: the first sent is signed by
 * an untrusted root (a dead end), the second by the trusted root. OpenSSL
 * alone takes the first and fails; certpin retries without it.
 */
static void dead_end_intermediate_gets_an_alternative_path(void **state)
{
	(void)state;
	EVP_PKEY *rk = tu_key(TU_P256), *xk = tu_key(TU_P256), *ik = tu_key(TU_P256),
	         *lk = tu_key(TU_P256);
	X509 *root = tu_cert(rk, "Alt Root", NULL, NULL, 1, NULL, NB, NA);
	X509 *other = tu_cert(xk, "Untrusted Root", NULL, NULL, 1, NULL, NB, NA);
	X509 *dead = tu_cert(ik, "Alt Intermediate", other, xk, 1, NULL, NB, NA);
	X509 *good = tu_cert(ik, "Alt Intermediate", root, rk, 1, NULL, NB, NA);
	X509 *leaf = tu_cert(lk, "api.test", good, ik, 0, "DNS:api.test", NB, NA);
	X509_STORE *st = X509_STORE_new();
	X509_STORE_add_cert(st, root);
	STACK_OF(X509) *untrusted = sk_X509_new_null();
	sk_X509_push(untrusted, dead);
	sk_X509_push(untrusted, good);
	certpin_policy *p = NULL;
	certpin_error err;
	assert_int_equal(empty_policy(&p, &err), CERTPIN_OK);
	certpin_verdict *v = NULL;
	assert_int_equal(certpin_openssl_verify(p, "api.test", leaf, untrusted, st, NOW, &v),
	                 CERTPIN_OK);
	if (certpin_verdict_get_code(v) != CERTPIN_V_NOT_PINNED)
		fail_msg("%s", certpin_verdict_reason(v));
	assert_int_equal(certpin_verdict_chain_len(v), 3);
	/* without the good one there is no path, and the reason is the first failure */
	(void)sk_X509_pop(untrusted);
	assert_int_equal(certpin_openssl_verify(p, "api.test", leaf, untrusted, st, NOW, &v),
	                 CERTPIN_OK);
	assert_int_equal(certpin_verdict_get_code(v), CERTPIN_V_CHAIN_INVALID);
	assert_non_null(strstr(certpin_verdict_reason(v), "depth 1"));
	certpin_verdict_free(v);
	certpin_policy_free(p);
	sk_X509_free(untrusted);
	X509_STORE_free(st);
	X509 *xs[] = {root, other, dead, good, leaf};
	for (size_t i = 0; i < 5; i++)
		X509_free(xs[i]);
	EVP_PKEY *ks[] = {rk, xk, ik, lk};
	for (size_t i = 0; i < 4; i++)
		EVP_PKEY_free(ks[i]);
}
#endif

#ifndef CERTPIN_TEST_MBEDTLS
/* The store's depth limit counts intermediates (not self-issued ones). */
static void store_depth_limit_is_honoured(void **state)
{
	(void)state;
	spec r = ROOT_OK, i = INT_OK, l = LEAF_OK;
	X509 *root = make(&r, NULL, NULL);
	X509 *inter = make(&i, root, r.key);
	X509 *leaf = make(&l, inter, i.key);
	X509_STORE *st = X509_STORE_new();
	X509_STORE_add_cert(st, root);
	STACK_OF(X509) *untrusted = sk_X509_new_null();
	sk_X509_push(untrusted, inter);
	certpin_policy *p = NULL;
	certpin_error err;
	assert_int_equal(empty_policy(&p, &err), CERTPIN_OK);
	certpin_verdict *v = NULL;
	X509_STORE_set_depth(st, 1);
	assert_int_equal(certpin_openssl_verify(p, "api.test", leaf, untrusted, st, NOW, &v),
	                 CERTPIN_OK);
	assert_int_equal(certpin_verdict_get_code(v), CERTPIN_V_NOT_PINNED);
	X509_STORE_set_depth(st, 0);
	assert_int_equal(certpin_openssl_verify(p, "api.test", leaf, untrusted, st, NOW, &v),
	                 CERTPIN_OK);
	assert_int_equal(certpin_verdict_get_code(v), CERTPIN_V_CHAIN_INVALID);
	assert_non_null(strstr(certpin_verdict_reason(v), "too long"));
	certpin_verdict_free(v);
	certpin_policy_free(p);
	sk_X509_free(untrusted);
	X509_STORE_free(st);
	X509_free(leaf);
	X509_free(inter);
	X509_free(root);
}
#endif

int main(void)
{
#ifdef CERTPIN_TEST_MBEDTLS
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(clean_chain_passes_every_rule),
	    cmocka_unit_test(leaf_is_not_a_ca),
	    cmocka_unit_test(leaf_eku_must_be_server_auth),
	    cmocka_unit_test(leaf_key_usage_has_no_cert_sign),
	    cmocka_unit_test(san_criticality_follows_the_subject),
	    cmocka_unit_test(san_dns_names_are_host_names),
	    cmocka_unit_test(cn_must_copy_a_san),
	    cmocka_unit_test(wildcard_over_public_suffix_is_refused),
	    cmocka_unit_test(key_types_are_allow_listed),
	    cmocka_unit_test(serial_numbers_are_positive_and_short),
	    cmocka_unit_test(ca_certificates_are_well_formed),
	    cmocka_unit_test(root_basic_constraints_must_be_critical),
	    cmocka_unit_test(leaf_name_constraints_are_refused),
	    cmocka_unit_test(aia_needs_an_access_description),
	};
#else
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(clean_chain_passes_every_rule),
	    cmocka_unit_test(leaf_must_be_v3),
	    cmocka_unit_test(leaf_needs_a_san),
	    cmocka_unit_test(leaf_eku_must_be_server_auth),
	    cmocka_unit_test(leaf_key_usage_has_no_cert_sign),
	    cmocka_unit_test(leaf_is_not_a_ca),
	    cmocka_unit_test(san_criticality_follows_the_subject),
	    cmocka_unit_test(san_dns_names_are_host_names),
	    cmocka_unit_test(cn_must_copy_a_san),
	    cmocka_unit_test(wildcard_over_public_suffix_is_refused),
	    cmocka_unit_test(key_types_are_allow_listed),
	    cmocka_unit_test(serial_numbers_are_positive_and_short),
	    cmocka_unit_test(ca_certificates_are_well_formed),
	    cmocka_unit_test(root_basic_constraints_must_be_critical),
	    cmocka_unit_test(name_constraints_are_checked_where_openssl_does_not),
	    cmocka_unit_test(leaf_name_constraints_are_refused),
	    cmocka_unit_test(aia_needs_an_access_description),
	    cmocka_unit_test(not_after_second_is_still_valid),
	    cmocka_unit_test(dead_end_intermediate_gets_an_alternative_path),
	    cmocka_unit_test(store_depth_limit_is_honoured),
	};
#endif
	return cmocka_run_group_tests(tests, setup, teardown);
}
