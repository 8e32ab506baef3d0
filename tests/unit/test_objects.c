/*
 * Certificates, keys, CSRs and PKCS#12 from PEM and DER: what is found, the
 * pins, subjects, key types, flags and lines, and every refusal.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "testutil.h"

/* ---- a throwaway PKI, made once --------------------------------------------- */

static EVP_PKEY *root_key, *int_key, *leaf_key, *p384_key, *ed_key;
static X509 *root, *inter, *leaf;

static int setup(void **state)
{
	(void)state;
	int64_t now = (int64_t)time(NULL);
	root_key = tu_key(TU_P256);
	int_key = tu_key(TU_P384);
	leaf_key = tu_key(TU_RSA2048);
	p384_key = tu_key(TU_P384);
	ed_key = tu_key(TU_ED25519);
	root = tu_cert(root_key, "Test Root", NULL, NULL, 1, NULL, now - 3600, now + 86400);
	inter =
	    tu_cert(int_key, "Test Intermediate", root, root_key, 1, NULL, now - 3600, now + 86400);
	leaf = tu_cert(leaf_key, "api.test", inter, int_key, 0, "DNS:api.test", now - 3600,
	               now + 86400);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	X509_free(leaf);
	X509_free(inter);
	X509_free(root);
	EVP_PKEY_free(root_key);
	EVP_PKEY_free(int_key);
	EVP_PKEY_free(leaf_key);
	EVP_PKEY_free(p384_key);
	EVP_PKEY_free(ed_key);
	return 0;
}

/* ---- buffers ----------------------------------------------------------------- */

typedef struct buf {
	uint8_t *p;
	size_t n;
} buf;

static void buf_add(buf *b, const void *p, size_t n)
{
	uint8_t *np = realloc(b->p, b->n + n + 1);
	assert_non_null(np);
	b->p = np;
	memcpy(b->p + b->n, p, n);
	b->n += n;
	b->p[b->n] = '\0';
}

static void buf_str(buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

/* Appends what a BIO collected and frees the BIO. */
static void buf_bio(buf *b, BIO *bio)
{
	char *p = NULL;
	long n = BIO_get_mem_data(bio, &p);
	assert_true(n >= 0);
	buf_add(b, p, (size_t)n);
	BIO_free(bio);
}

static BIO *mem(void)
{
	BIO *b = BIO_new(BIO_s_mem());
	assert_non_null(b);
	return b;
}

static void add_cert_pem(buf *b, X509 *x)
{
	BIO *bio = mem();
	assert_int_equal(PEM_write_bio_X509(bio, x), 1);
	buf_bio(b, bio);
}

static void add_pubkey_pem(buf *b, EVP_PKEY *k)
{
	BIO *bio = mem();
	assert_int_equal(PEM_write_bio_PUBKEY(bio, k), 1);
	buf_bio(b, bio);
}

static void add_der_bytes(buf *b, unsigned char *der, int n)
{
	assert_true(n > 0);
	buf_add(b, der, (size_t)n);
	OPENSSL_free(der);
}

/* ---- reading and checking -------------------------------------------------- */

static certpin_err read_buf(const buf *b, const char *pw, certpin_object_list **out,
                            certpin_error *err)
{
	memset(err, 0, sizeof *err);
	return certpin_objects_from_mem(b->p, b->n, "in.pem", pw, out, err);
}

/* Reads b, expecting exactly `count` objects. */
static certpin_object_list *read_ok(const buf *b, const char *pw, size_t count)
{
	certpin_object_list *l = NULL;
	certpin_error err;
	certpin_err rc = read_buf(b, pw, &l, &err);
	if (rc != CERTPIN_OK)
		fail_msg("read failed: %s (%s)", err.message, certpin_strerror(rc));
	assert_non_null(l);
	assert_int_equal(certpin_object_list_count(l), count);
	return l;
}

/* Reads b, expecting error `code` with `needle` in the message. */
static void read_fails(const buf *b, const char *pw, certpin_err code, const char *needle)
{
	certpin_object_list *l = (certpin_object_list *)(uintptr_t)1;
	certpin_error err;
	certpin_err rc = read_buf(b, pw, &l, &err);
	if (rc != code)
		fail_msg("expected %s, got %s: %s", certpin_strerror(code), certpin_strerror(rc),
		         err.message);
	assert_null(l);
	assert_int_equal(err.code, code);
	if (needle != NULL && strstr(err.message, needle) == NULL)
		fail_msg("message '%s' lacks '%s'", err.message, needle);
}

static const char *pin_text(const certpin_pin *pin)
{
	static char s[CERTPIN_PIN_STRLEN];
	assert_true(certpin_pin_format(pin, s, sizeof s) > 0);
	return s;
}

static void assert_key_pin(const certpin_object *o, EVP_PKEY *k)
{
	assert_int_equal(o->spki_pin.type, CERTPIN_PIN_SPKI_SHA256);
	assert_string_equal(pin_text(&o->spki_pin), tu_spki_pin_text(k));
}

static void assert_cert_object(const certpin_object *o, X509 *x, EVP_PKEY *k, const char *subject)
{
	assert_int_equal(o->kind, CERTPIN_OBJ_CERT);
	assert_key_pin(o, k);
	assert_string_equal(o->subject, subject);
	size_t n;
	uint8_t *der = tu_der(x, &n);
	assert_int_equal(o->der_len, n);
	assert_memory_equal(o->der, der, n);
	/* the whole-certificate pin, and the SPKI pin the evaluator computes */
	uint8_t h[CERTPIN_HASH_LEN];
	unsigned hl = 0;
	assert_int_equal(EVP_Digest(der, n, h, &hl, EVP_sha256(), NULL), 1);
	assert_int_equal(o->cert_pin.type, CERTPIN_PIN_CERT_SHA256);
	assert_memory_equal(o->cert_pin.hash, h, sizeof h);
	certpin_pin walked;
	assert_int_equal(certpin_pin_spki_from_cert_der(der, n, &walked), CERTPIN_OK);
	assert_true(certpin_pin_equal(&walked, &o->spki_pin));
	free(der);
}

/* ---- certificates -------------------------------------------------------- */

static void pem_chain_of_three_certs_gives_three_objects_with_begin_lines(void **state)
{
	(void)state;
	buf b = {0};
	add_cert_pem(&b, leaf);
	add_cert_pem(&b, inter);
	add_cert_pem(&b, root);
	certpin_object_list *l = read_ok(&b, NULL, 3);
	const certpin_object *o0 = certpin_object_list_get(l, 0);
	const certpin_object *o1 = certpin_object_list_get(l, 1);
	const certpin_object *o2 = certpin_object_list_get(l, 2);
	assert_cert_object(o0, leaf, leaf_key, "CN=api.test");
	assert_cert_object(o1, inter, int_key, "CN=Test Intermediate");
	assert_cert_object(o2, root, root_key, "CN=Test Root");
	assert_int_equal(o0->line, 1);
	/* each BEGIN line follows the previous END line */
	assert_true(o1->line > o0->line + 2);
	assert_true(o2->line > o1->line + 2);
	size_t lines0 = 0;
	for (size_t i = 0; i < b.n; i++)
		if (i + 10 <= b.n && memcmp(b.p + i, "-----BEGIN", 10) == 0 &&
		    (i == 0 || b.p[i - 1] == '\n')) {
			unsigned line = 1;
			for (size_t j = 0; j < i; j++)
				line += b.p[j] == '\n';
			const certpin_object *o = certpin_object_list_get(l, lines0++);
			assert_int_equal(o->line, line);
		}
	assert_int_equal(lines0, 3);
	assert_string_equal(o0->key_type, "RSA-2048");
	assert_string_equal(o1->key_type, "EC-P-384");
	assert_string_equal(o2->key_type, "EC-P-256");
	assert_null(certpin_object_list_get(l, 3));
	certpin_object_list_free(l);
	free(b.p);
}

static void ca_and_self_signed_flags_for_root_intermediate_and_leaf(void **state)
{
	(void)state;
	int64_t now = (int64_t)time(NULL);
	/* a self-signed leaf: self-signed but not a CA */
	X509 *ss_leaf =
	    tu_cert(ed_key, "selfie.test", NULL, NULL, 0, "DNS:selfie.test", now, now + 86400);
	/* issuer name equals subject, but signed by another key: not self-signed */
	X509 *imposter = tu_cert(p384_key, "Test Root", root, root_key, 1, NULL, now, now + 86400);
	buf b = {0};
	add_cert_pem(&b, root);
	add_cert_pem(&b, inter);
	add_cert_pem(&b, leaf);
	add_cert_pem(&b, ss_leaf);
	add_cert_pem(&b, imposter);
	certpin_object_list *l = read_ok(&b, NULL, 5);
	static const struct {
		int ca, ss;
	} want[] = {{1, 1}, {1, 0}, {0, 0}, {0, 1}, {1, 0}};
	for (size_t i = 0; i < 5; i++) {
		const certpin_object *o = certpin_object_list_get(l, i);
		if (o->is_ca != want[i].ca || o->self_signed != want[i].ss)
			fail_msg("cert %zu (%s): is_ca %d self_signed %d", i, o->subject, o->is_ca,
			         o->self_signed);
	}
	assert_string_equal(certpin_object_list_get(l, 3)->key_type, "Ed25519");
	certpin_object_list_free(l);
	free(b.p);
	X509_free(ss_leaf);
	X509_free(imposter);
}

static void text_before_between_and_after_blocks_is_ignored(void **state)
{
	(void)state;
	buf b = {0};
	buf_str(&b, "Certificate:\n    Data:\n        Version: 3 (0x2)\n"
	            "subject=CN = api.test\n\n");
	add_cert_pem(&b, leaf);
	buf_str(&b, "issuer=CN = Test Root\n---\nsome -----BEGIN inside a line\n");
	add_cert_pem(&b, root);
	buf_str(&b, "trailing text\n");
	certpin_object_list *l = read_ok(&b, NULL, 2);
	assert_int_equal(certpin_object_list_get(l, 0)->line, 6);
	assert_cert_object(certpin_object_list_get(l, 1), root, root_key, "CN=Test Root");
	certpin_object_list_free(l);
	free(b.p);
}

static void crlf_line_endings_are_read_and_lines_counted(void **state)
{
	(void)state;
	buf pem = {0}, b = {0};
	add_cert_pem(&pem, root);
	buf_str(&b, "x\r\n\r\n");
	for (size_t i = 0; i < pem.n; i++) {
		if (pem.p[i] == '\n')
			buf_str(&b, "\r");
		buf_add(&b, &pem.p[i], 1);
	}
	certpin_object_list *l = read_ok(&b, NULL, 1);
	assert_int_equal(certpin_object_list_get(l, 0)->line, 3);
	assert_key_pin(certpin_object_list_get(l, 0), root_key);
	certpin_object_list_free(l);
	free(pem.p);
	free(b.p);
}

static void der_certificate_is_read_with_line_zero(void **state)
{
	(void)state;
	buf b = {0};
	unsigned char *der = NULL;
	int der_len = i2d_X509(leaf, &der);
	add_der_bytes(&b, der, der_len);
	certpin_object_list *l = read_ok(&b, NULL, 1);
	const certpin_object *o = certpin_object_list_get(l, 0);
	assert_cert_object(o, leaf, leaf_key, "CN=api.test");
	assert_int_equal(o->line, 0);
	assert_int_equal(o->is_ca, 0);
	certpin_object_list_free(l);
	free(b.p);
}

static void trusted_certificate_block_is_read(void **state)
{
	(void)state;
	buf b = {0};
	BIO *bio = mem();
	assert_int_equal(PEM_write_bio_X509_AUX(bio, root), 1);
	buf_bio(&b, bio);
	assert_non_null(strstr((const char *)b.p, "TRUSTED CERTIFICATE"));
	certpin_object_list *l = read_ok(&b, NULL, 1);
	assert_cert_object(certpin_object_list_get(l, 0), root, root_key, "CN=Test Root");
	certpin_object_list_free(l);
	free(b.p);
}

/* ---- public keys ----------------------------------------------------------- */

static void pem_and_der_public_keys_are_read(void **state)
{
	(void)state;
	EVP_PKEY *keys[] = {leaf_key, root_key, int_key, ed_key};
	const char *types[] = {"RSA-2048", "EC-P-256", "EC-P-384", "Ed25519"};
	for (size_t i = 0; i < 4; i++) {
		buf pem = {0}, der = {0};
		add_pubkey_pem(&pem, keys[i]);
		unsigned char *d = NULL;
		int d_len = i2d_PUBKEY(keys[i], &d);
		add_der_bytes(&der, d, d_len);
		for (int k = 0; k < 2; k++) {
			certpin_object_list *l = read_ok(k == 0 ? &pem : &der, NULL, 1);
			const certpin_object *o = certpin_object_list_get(l, 0);
			assert_int_equal(o->kind, CERTPIN_OBJ_PUBKEY);
			assert_key_pin(o, keys[i]);
			assert_string_equal(o->key_type, types[i]);
			assert_string_equal(o->subject, "");
			assert_null(o->der);
			assert_int_equal(o->cert_pin.type, 0);
			assert_int_equal(o->line, k == 0 ? 1 : 0);
			certpin_object_list_free(l);
		}
		free(pem.p);
		free(der.p);
	}
}

static void pkcs1_rsa_public_key_is_read(void **state)
{
	(void)state;
	buf pem = {0}, der = {0};
	BIO *bio = mem();
	/* "RSA PUBLIC KEY" (PKCS#1), as `openssl rsa -RSAPublicKey_out` writes it */
	unsigned char *d = NULL;
	int n = i2d_PublicKey(leaf_key, &d);
	assert_true(n > 0);
	assert_true(PEM_write_bio(bio, "RSA PUBLIC KEY", "", d, n) > 0);
	buf_bio(&pem, bio);
	add_der_bytes(&der, d, n);
	for (int k = 0; k < 2; k++) {
		certpin_object_list *l = read_ok(k == 0 ? &pem : &der, NULL, 1);
		assert_int_equal(certpin_object_list_get(l, 0)->kind, CERTPIN_OBJ_PUBKEY);
		assert_key_pin(certpin_object_list_get(l, 0), leaf_key);
		certpin_object_list_free(l);
	}
	free(pem.p);
	free(der.p);
}

static void key_types_are_named(void **state)
{
	(void)state;
	static const struct {
		enum tu_key_type t;
		const char *name;
	} cases[] = {
	    {TU_RSA3072, "RSA-3072"},
	    {TU_P521, "EC-P-521"},
	    {TU_ED448, "Ed448"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		EVP_PKEY *k = tu_key(cases[i].t);
		buf b = {0};
		add_pubkey_pem(&b, k);
		certpin_object_list *l = read_ok(&b, NULL, 1);
		assert_string_equal(certpin_object_list_get(l, 0)->key_type, cases[i].name);
		assert_key_pin(certpin_object_list_get(l, 0), k);
		certpin_object_list_free(l);
		free(b.p);
		EVP_PKEY_free(k);
	}
}

/* ---- private keys ---------------------------------------------------------- */

static void pkcs8_private_keys_pem_and_der_give_the_public_pin(void **state)
{
	(void)state;
	EVP_PKEY *keys[] = {leaf_key, root_key, ed_key};
	for (size_t i = 0; i < 3; i++) {
		buf pem = {0}, der = {0};
		BIO *bio = mem();
		assert_int_equal(PEM_write_bio_PrivateKey(bio, keys[i], NULL, NULL, 0, NULL, NULL),
		                 1);
		buf_bio(&pem, bio);
		assert_non_null(strstr((const char *)pem.p, "BEGIN PRIVATE KEY"));
		bio = mem();
		assert_int_equal(i2d_PKCS8PrivateKey_bio(bio, keys[i], NULL, NULL, 0, NULL, NULL),
		                 1);
		buf_bio(&der, bio);
		for (int k = 0; k < 2; k++) {
			certpin_object_list *l = read_ok(k == 0 ? &pem : &der, NULL, 1);
			const certpin_object *o = certpin_object_list_get(l, 0);
			assert_int_equal(o->kind, CERTPIN_OBJ_PRIVKEY);
			assert_key_pin(o, keys[i]);
			assert_string_equal(o->subject, "");
			certpin_object_list_free(l);
		}
		free(pem.p);
		free(der.p);
	}
}

static void traditional_rsa_and_ec_private_keys_are_read(void **state)
{
	(void)state;
	EVP_PKEY *keys[] = {leaf_key, root_key};
	const char *marks[] = {"BEGIN RSA PRIVATE KEY", "BEGIN EC PRIVATE KEY"};
	for (size_t i = 0; i < 2; i++) {
		buf pem = {0}, der = {0};
		BIO *bio = mem();
		assert_int_equal(
		    PEM_write_bio_PrivateKey_traditional(bio, keys[i], NULL, NULL, 0, NULL, NULL),
		    1);
		buf_bio(&pem, bio);
		assert_non_null(strstr((const char *)pem.p, marks[i]));
		unsigned char *d = NULL;
		int d_len = i2d_PrivateKey(keys[i], &d);
		add_der_bytes(&der, d, d_len);
		for (int k = 0; k < 2; k++) {
			certpin_object_list *l = read_ok(k == 0 ? &pem : &der, NULL, 1);
			assert_int_equal(certpin_object_list_get(l, 0)->kind, CERTPIN_OBJ_PRIVKEY);
			assert_key_pin(certpin_object_list_get(l, 0), keys[i]);
			certpin_object_list_free(l);
		}
		free(pem.p);
		free(der.p);
	}
}

static void ec_parameters_block_is_skipped_before_ec_private_key(void **state)
{
	(void)state;
	/* what `openssl ecparam -name prime256v1 -genkey` prints */
	buf b = {0};
	BIO *bio = mem();
	assert_int_equal(PEM_write_bio_Parameters(bio, root_key), 1);
	assert_int_equal(
	    PEM_write_bio_PrivateKey_traditional(bio, root_key, NULL, NULL, 0, NULL, NULL), 1);
	buf_bio(&b, bio);
	assert_non_null(strstr((const char *)b.p, "BEGIN EC PARAMETERS"));
	certpin_object_list *l = read_ok(&b, NULL, 1);
	const certpin_object *o = certpin_object_list_get(l, 0);
	assert_int_equal(o->kind, CERTPIN_OBJ_PRIVKEY);
	assert_int_equal(o->line, 4);
	assert_string_equal(o->key_type, "EC-P-256");
	assert_key_pin(o, root_key);
	certpin_object_list_free(l);
	free(b.p);
}

static void encrypted_pkcs8_needs_the_right_password(void **state)
{
	(void)state;
	buf pem = {0}, der = {0};
	BIO *bio = mem();
	assert_int_equal(PEM_write_bio_PKCS8PrivateKey(bio, root_key, EVP_aes_256_cbc(), NULL, 0,
	                                               NULL, (void *)(uintptr_t) "s3cret"),
	                 1);
	buf_bio(&pem, bio);
	assert_non_null(strstr((const char *)pem.p, "BEGIN ENCRYPTED PRIVATE KEY"));
	bio = mem();
	assert_int_equal(i2d_PKCS8PrivateKey_bio(bio, root_key, EVP_aes_256_cbc(), NULL, 0, NULL,
	                                         (void *)(uintptr_t) "s3cret"),
	                 1);
	buf_bio(&der, bio);
	for (int k = 0; k < 2; k++) {
		const buf *in = k == 0 ? &pem : &der;
		certpin_object_list *l = read_ok(in, "s3cret", 1);
		assert_int_equal(certpin_object_list_get(l, 0)->kind, CERTPIN_OBJ_PRIVKEY);
		assert_key_pin(certpin_object_list_get(l, 0), root_key);
		certpin_object_list_free(l);
		read_fails(in, "wrong", CERTPIN_E_PASSWORD, "wrong password");
		read_fails(in, NULL, CERTPIN_E_PASSWORD, "needs a password");
		read_fails(in, "", CERTPIN_E_PASSWORD, NULL);
	}
	read_fails(&pem, NULL, CERTPIN_E_PASSWORD, "in.pem:1: ");
	free(pem.p);
	free(der.p);
}

static void legacy_encrypted_pem_key_needs_the_right_password(void **state)
{
	(void)state;
	buf b = {0};
	BIO *bio = mem();
	assert_int_equal(PEM_write_bio_PrivateKey_traditional(bio, leaf_key, EVP_aes_128_cbc(),
	                                                      (unsigned char *)(uintptr_t) "pw", 2,
	                                                      NULL, NULL),
	                 1);
	buf_bio(&b, bio);
	assert_non_null(strstr((const char *)b.p, "Proc-Type: 4,ENCRYPTED"));
	certpin_object_list *l = read_ok(&b, "pw", 1);
	assert_key_pin(certpin_object_list_get(l, 0), leaf_key);
	certpin_object_list_free(l);
	read_fails(&b, "not-pw", CERTPIN_E_PASSWORD, "wrong password");
	read_fails(&b, NULL, CERTPIN_E_PASSWORD, "needs a password");
	free(b.p);
}

/* An EncryptedPrivateKeyInfo with the given algorithm and junk ciphertext. */
static void add_encrypted_key_shell(buf *b, X509_ALGOR *alg)
{
	assert_non_null(alg);
	X509_SIG *sig = X509_SIG_new();
	assert_non_null(sig);
	X509_ALGOR *in = NULL;
	ASN1_OCTET_STRING *ct = NULL;
	X509_SIG_getm(sig, &in, &ct);
	assert_int_equal(X509_ALGOR_copy(in, alg), 1);
	assert_int_equal(ASN1_OCTET_STRING_set(ct, (const unsigned char *)"0123456789abcdef", 16),
	                 1);
	unsigned char *d = NULL;
	int d_len = i2d_X509_SIG(sig, &d);
	add_der_bytes(b, d, d_len);
	X509_SIG_free(sig);
	X509_ALGOR_free(alg);
}

static void huge_key_derivation_costs_are_refused_before_deriving(void **state)
{
	(void)state;
	/* each would take minutes (or gigabytes) if derived */
	X509_ALGOR *algs[] = {
	    PKCS5_pbe2_set_iv(EVP_aes_128_cbc(), 2000000000, NULL, 0, NULL, NID_hmacWithSHA256),
	    PKCS5_pbe_set(NID_pbe_WithSHA1And3_Key_TripleDES_CBC, 1000001, NULL, 0),
	    PKCS5_pbe2_set_scrypt(EVP_aes_128_cbc(), NULL, 0, NULL, 1u << 14, 8, 64),
	};
	for (size_t i = 0; i < sizeof algs / sizeof algs[0]; i++) {
		buf b = {0};
		add_encrypted_key_shell(&b, algs[i]);
		read_fails(&b, "pw", CERTPIN_E_TOO_LARGE, "in.pem: ");
		free(b.p);
	}
	/* a count at the limit is tried (and here fails to decrypt the junk) */
	buf b = {0};
	add_encrypted_key_shell(
	    &b, PKCS5_pbe2_set_iv(EVP_aes_128_cbc(), 1000, NULL, 0, NULL, NID_hmacWithSHA256));
	read_fails(&b, "pw", CERTPIN_E_PASSWORD, "wrong password");
	free(b.p);
}

/* ---- CSRs ------------------------------------------------------------------ */

static X509_REQ *make_csr(EVP_PKEY *k, const char *cn)
{
	X509_REQ *req = X509_REQ_new();
	assert_non_null(req);
	X509_NAME *nm = X509_REQ_get_subject_name(req);
	X509_NAME_add_entry_by_txt(nm, "O", MBSTRING_ASC, (const unsigned char *)"Example", -1, -1,
	                           0);
	X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	assert_int_equal(X509_REQ_set_pubkey(req, k), 1);
	assert_true(X509_REQ_sign(req, k, EVP_sha256()) > 0);
	return req;
}

static void csr_pem_and_der_give_subject_and_key_pin(void **state)
{
	(void)state;
	X509_REQ *req = make_csr(p384_key, "csr.test");
	buf pem = {0}, der = {0}, newpem = {0};
	BIO *bio = mem();
	assert_int_equal(PEM_write_bio_X509_REQ(bio, req), 1);
	buf_bio(&pem, bio);
	bio = mem();
	assert_int_equal(PEM_write_bio_X509_REQ_NEW(bio, req), 1);
	buf_bio(&newpem, bio);
	assert_non_null(strstr((const char *)newpem.p, "NEW CERTIFICATE REQUEST"));
	unsigned char *d = NULL;
	int d_len = i2d_X509_REQ(req, &d);
	add_der_bytes(&der, d, d_len);
	const buf *ins[] = {&pem, &newpem, &der};
	for (size_t k = 0; k < 3; k++) {
		certpin_object_list *l = read_ok(ins[k], NULL, 1);
		const certpin_object *o = certpin_object_list_get(l, 0);
		assert_int_equal(o->kind, CERTPIN_OBJ_CSR);
		assert_key_pin(o, p384_key);
		assert_string_equal(o->subject, "CN=csr.test,O=Example");
		assert_string_equal(o->key_type, "EC-P-384");
		assert_null(o->der);
		assert_int_equal(o->cert_pin.type, 0);
		certpin_object_list_free(l);
	}
	free(pem.p);
	free(newpem.p);
	free(der.p);
	X509_REQ_free(req);
}

/* ---- PKCS#12 --------------------------------------------------------------- */

static void add_p12(buf *b, const char *pass, EVP_PKEY *k, X509 *x, X509 *extra)
{
	STACK_OF(X509) *ca = sk_X509_new_null();
	assert_non_null(ca);
	if (extra != NULL)
		assert_true(sk_X509_push(ca, extra) > 0);
	PKCS12 *p12 = PKCS12_create(pass, "friendly", k, x, ca, 0, 0, 0, 0, 0);
	assert_non_null(p12);
	unsigned char *d = NULL;
	int d_len = i2d_PKCS12(p12, &d);
	add_der_bytes(b, d, d_len);
	PKCS12_free(p12);
	sk_X509_free(ca);
}

static void pkcs12_gives_key_cert_and_extra_certs_with_password(void **state)
{
	(void)state;
	buf b = {0};
	add_p12(&b, "pw", leaf_key, leaf, inter);
	certpin_object_list *l = read_ok(&b, "pw", 3);
	int seen_key = 0, seen_leaf = 0, seen_inter = 0;
	for (size_t i = 0; i < 3; i++) {
		const certpin_object *o = certpin_object_list_get(l, i);
		assert_int_equal(o->line, 0);
		if (o->kind == CERTPIN_OBJ_PRIVKEY) {
			assert_key_pin(o, leaf_key);
			seen_key++;
		} else if (o->kind == CERTPIN_OBJ_CERT && strcmp(o->subject, "CN=api.test") == 0) {
			assert_cert_object(o, leaf, leaf_key, "CN=api.test");
			seen_leaf++;
		} else {
			assert_cert_object(o, inter, int_key, "CN=Test Intermediate");
			seen_inter++;
		}
	}
	assert_int_equal(seen_key + seen_leaf * 10 + seen_inter * 100, 111);
	certpin_object_list_free(l);
	read_fails(&b, "wrong", CERTPIN_E_PASSWORD, "wrong password");
	read_fails(&b, NULL, CERTPIN_E_PASSWORD, "needs a password");
	free(b.p);
}

static void pkcs12_without_password_opens_with_none_given(void **state)
{
	(void)state;
	buf b = {0};
	add_p12(&b, "", root_key, root, NULL);
	certpin_object_list *l = read_ok(&b, NULL, 2);
	certpin_object_list_free(l);
	l = read_ok(&b, "", 2);
	certpin_object_list_free(l);
	free(b.p);
}

/* ---- refusals -------------------------------------------------------------- */

static void unknown_pem_block_is_refused_naming_its_line(void **state)
{
	(void)state;
	buf b = {0};
	add_cert_pem(&b, root);
	buf_str(&b, "\n-----BEGIN X509 CRL-----\nMAA=\n-----END X509 CRL-----\n");
	size_t line = 2;
	for (size_t i = 0; i < b.n; i++)
		line += b.p[i] == '\n';
	line -= 3 + 1; /* the CRL block: 3 lines, then one past */
	char want[64];
	snprintf(want, sizeof want, "in.pem:%zu: unsupported PEM block 'X509 CRL'", line);
	read_fails(&b, NULL, CERTPIN_E_KEY_FILE, want);
	free(b.p);

	buf ssh = {0};
	buf_str(&ssh,
	        "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n");
	read_fails(&ssh, NULL, CERTPIN_E_KEY_FILE, "in.pem:1: unsupported PEM block 'OPENSSH");
	free(ssh.p);
}

static void truncated_pem_block_is_refused_naming_its_line(void **state)
{
	(void)state;
	buf full = {0}, b = {0};
	add_cert_pem(&full, root);
	add_cert_pem(&full, leaf);
	/* cut the second certificate in half */
	size_t cut = full.n - 300;
	buf_add(&b, full.p, cut);
	const char *second = strstr((const char *)full.p + 10, "-----BEGIN");
	assert_non_null(second);
	unsigned line = 1;
	for (const char *p = (const char *)full.p; p < second; p++)
		line += *p == '\n';
	char want[64];
	snprintf(want, sizeof want, "in.pem:%u: malformed PEM block 'CERTIFICATE'", line);
	read_fails(&b, NULL, CERTPIN_E_KEY_FILE, want);
	free(b.p);
	free(full.p);
}

static void pem_block_with_bad_body_is_refused(void **state)
{
	(void)state;
	static const char *bodies[] = {
	    /* valid base64, not a certificate */
	    "-----BEGIN CERTIFICATE-----\nAAAAAAAA\n-----END CERTIFICATE-----\n",
	    /* invalid base64 */
	    "-----BEGIN PUBLIC KEY-----\n@@@@\n-----END PUBLIC KEY-----\n",
	    /* empty body */
	    "-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n",
	    /* mismatched END */
	    "-----BEGIN CERTIFICATE-----\nAAAA\n-----END PUBLIC KEY-----\n",
	    /* a header OpenSSL does not understand */
	    "-----BEGIN CERTIFICATE-----\nComment: hi\n\nAAAA\n-----END CERTIFICATE-----\n",
	};
	for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
		buf b = {0};
		buf_str(&b, bodies[i]);
		read_fails(&b, NULL, CERTPIN_E_KEY_FILE, "in.pem:1: ");
		free(b.p);
	}
}

static void trailing_bytes_after_a_certificate_are_refused(void **state)
{
	(void)state;
	unsigned char *d = NULL;
	int n = i2d_X509(root, &d);
	assert_true(n > 0);
	buf der = {0}, pem = {0};
	buf_add(&der, d, (size_t)n);
	buf_add(&der, "\0", 1);
	read_fails(&der, NULL, CERTPIN_E_KEY_FILE, "not a PEM or DER");
	BIO *bio = mem();
	assert_true(PEM_write_bio(bio, "CERTIFICATE", "", der.p, (long)der.n) > 0);
	buf_bio(&pem, bio);
	read_fails(&pem, NULL, CERTPIN_E_KEY_FILE, "in.pem:1: malformed PEM block 'CERTIFICATE'");
	OPENSSL_free(d);
	free(der.p);
	free(pem.p);
}

static void garbage_empty_and_text_only_inputs_are_refused(void **state)
{
	(void)state;
	buf b = {0};
	buf_str(&b, "this is not a certificate\n");
	read_fails(&b, NULL, CERTPIN_E_KEY_FILE,
	           "in.pem: not a PEM or DER certificate, public key, private key, CSR or PKCS#12");
	free(b.p);
	b.p = NULL;
	b.n = 0;
	buf_add(&b, "\x30\x03\x02\x01\x01", 5);
	read_fails(&b, NULL, CERTPIN_E_KEY_FILE, "not a PEM or DER");
	free(b.p);

	uint8_t empty[1] = {0};
	certpin_object_list *l = NULL;
	certpin_error err;
	assert_int_equal(certpin_objects_from_mem(empty, 0, "e.pem", NULL, &l, &err),
	                 CERTPIN_E_KEY_FILE);
	assert_null(l);
	assert_string_equal(err.message, "e.pem: empty input");
}

static void input_over_one_mebibyte_is_refused(void **state)
{
	(void)state;
	size_t n = CERTPIN_MAX_FILE_SIZE + 1;
	uint8_t *big = calloc(1, n);
	assert_non_null(big);
	certpin_object_list *l = NULL;
	certpin_error err;
	assert_int_equal(certpin_objects_from_mem(big, n, "big", NULL, &l, &err),
	                 CERTPIN_E_TOO_LARGE);
	assert_null(l);
	const char *path = tu_write_tmp("big.der", big, n);
	assert_int_equal(certpin_objects_from_file(path, NULL, &l, &err), CERTPIN_E_TOO_LARGE);
	assert_non_null(strstr(err.message, path));
	assert_null(l);
	/* exactly the cap is read (and refused only for what it is) */
	assert_int_equal(certpin_objects_from_mem(big, n - 1, "big", NULL, &l, &err),
	                 CERTPIN_E_KEY_FILE);
	free(big);
}

static void more_than_a_thousand_objects_are_refused(void **state)
{
	(void)state;
	buf one = {0}, b = {0};
	add_pubkey_pem(&one, ed_key);
	for (int i = 0; i < 1000; i++)
		buf_add(&b, one.p, one.n);
	certpin_object_list *l = read_ok(&b, NULL, 1000);
	certpin_object_list_free(l);
	buf_add(&b, one.p, one.n);
	read_fails(&b, NULL, CERTPIN_E_TOO_LARGE, "more than 1000 objects");
	free(one.p);
	free(b.p);
}

/* ---- files ------------------------------------------------------------------ */

static void file_is_read_and_errors_name_it(void **state)
{
	(void)state;
	buf b = {0};
	add_cert_pem(&b, leaf);
	const char *path = tu_write_tmp("leaf.pem", b.p, b.n);
	certpin_object_list *l = NULL;
	certpin_error err;
	assert_int_equal(certpin_objects_from_file(path, NULL, &l, &err), CERTPIN_OK);
	assert_int_equal(certpin_object_list_count(l), 1);
	assert_cert_object(certpin_object_list_get(l, 0), leaf, leaf_key, "CN=api.test");
	certpin_object_list_free(l);

	char missing[600];
	snprintf(missing, sizeof missing, "%s/nope.pem", tu_tmpdir());
	assert_int_equal(certpin_objects_from_file(missing, NULL, &l, &err), CERTPIN_E_IO);
	assert_null(l);
	assert_non_null(strstr(err.message, missing));
	assert_non_null(strstr(err.message, "No such file or directory"));

	assert_int_equal(certpin_objects_from_file(tu_tmpdir(), NULL, &l, &err), CERTPIN_E_IO);
	assert_non_null(strstr(err.message, "Is a directory"));

	path = tu_write_tmp("junk.txt", "junk\n", 5);
	assert_int_equal(certpin_objects_from_file(path, NULL, &l, &err), CERTPIN_E_KEY_FILE);
	assert_non_null(strstr(err.message, path));
	free(b.p);
}

static void null_arguments_are_refused_and_free_null_is_a_no_op(void **state)
{
	(void)state;
	certpin_object_list *l = NULL;
	certpin_error err;
	uint8_t d[1] = {0};
	assert_int_equal(certpin_objects_from_mem(NULL, 1, "x", NULL, &l, &err),
	                 CERTPIN_E_INVALID_ARG);
	assert_int_equal(certpin_objects_from_mem(d, 1, NULL, NULL, &l, &err),
	                 CERTPIN_E_INVALID_ARG);
	assert_int_equal(certpin_objects_from_mem(d, 1, "x", NULL, NULL, &err),
	                 CERTPIN_E_INVALID_ARG);
	assert_int_equal(certpin_objects_from_file(NULL, NULL, &l, NULL), CERTPIN_E_INVALID_ARG);
	assert_int_equal(certpin_objects_from_file("x", NULL, NULL, NULL), CERTPIN_E_INVALID_ARG);
	/* err may be NULL */
	assert_int_equal(certpin_objects_from_mem(d, 1, "x", NULL, &l, NULL), CERTPIN_E_KEY_FILE);
	char longpw[2000];
	memset(longpw, 'a', sizeof longpw - 1);
	longpw[sizeof longpw - 1] = '\0';
	assert_int_equal(certpin_objects_from_mem(d, 1, "x", longpw, &l, &err),
	                 CERTPIN_E_INVALID_ARG);
	assert_int_equal(certpin_object_list_count(NULL), 0);
	assert_null(certpin_object_list_get(NULL, 0));
	certpin_object_list_free(NULL);
}

static void openssl_error_queue_is_left_as_found(void **state)
{
	(void)state;
	ERR_clear_error();
	buf b = {0};
	buf_str(&b, "garbage");
	read_fails(&b, NULL, CERTPIN_E_KEY_FILE, NULL);
	assert_int_equal(ERR_peek_error(), 0);
	free(b.p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(pem_chain_of_three_certs_gives_three_objects_with_begin_lines),
	    cmocka_unit_test(ca_and_self_signed_flags_for_root_intermediate_and_leaf),
	    cmocka_unit_test(text_before_between_and_after_blocks_is_ignored),
	    cmocka_unit_test(crlf_line_endings_are_read_and_lines_counted),
	    cmocka_unit_test(der_certificate_is_read_with_line_zero),
	    cmocka_unit_test(trusted_certificate_block_is_read),
	    cmocka_unit_test(pem_and_der_public_keys_are_read),
	    cmocka_unit_test(pkcs1_rsa_public_key_is_read),
	    cmocka_unit_test(key_types_are_named),
	    cmocka_unit_test(pkcs8_private_keys_pem_and_der_give_the_public_pin),
	    cmocka_unit_test(traditional_rsa_and_ec_private_keys_are_read),
	    cmocka_unit_test(ec_parameters_block_is_skipped_before_ec_private_key),
	    cmocka_unit_test(encrypted_pkcs8_needs_the_right_password),
	    cmocka_unit_test(legacy_encrypted_pem_key_needs_the_right_password),
	    cmocka_unit_test(huge_key_derivation_costs_are_refused_before_deriving),
	    cmocka_unit_test(csr_pem_and_der_give_subject_and_key_pin),
	    cmocka_unit_test(pkcs12_gives_key_cert_and_extra_certs_with_password),
	    cmocka_unit_test(pkcs12_without_password_opens_with_none_given),
	    cmocka_unit_test(unknown_pem_block_is_refused_naming_its_line),
	    cmocka_unit_test(truncated_pem_block_is_refused_naming_its_line),
	    cmocka_unit_test(pem_block_with_bad_body_is_refused),
	    cmocka_unit_test(trailing_bytes_after_a_certificate_are_refused),
	    cmocka_unit_test(garbage_empty_and_text_only_inputs_are_refused),
	    cmocka_unit_test(input_over_one_mebibyte_is_refused),
	    cmocka_unit_test(more_than_a_thousand_objects_are_refused),
	    cmocka_unit_test(file_is_read_and_errors_name_it),
	    cmocka_unit_test(null_arguments_are_refused_and_free_null_is_a_no_op),
	    cmocka_unit_test(openssl_error_queue_is_left_as_found),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
