#include "testutil.h"

#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir_path[256];

static void tu_cleanup(void)
{
	if (tmpdir_path[0] != '\0') {
		char cmd[300];
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir_path);
		if (system(cmd) != 0)
			fprintf(stderr, "testutil: could not remove %s\n", tmpdir_path);
	}
}

static void die(const char *what)
{
	fprintf(stderr, "testutil: %s\n", what);
	abort();
}

uint8_t *tu_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		fprintf(stderr, "testutil: cannot open %s\n", path);
		abort();
	}
	size_t cap = 65536, n = 0;
	uint8_t *buf = malloc(cap);
	if (buf == NULL)
		die("out of memory");
	for (;;) {
		size_t got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (n < cap)
			break;
		cap *= 2;
		buf = realloc(buf, cap);
		if (buf == NULL)
			die("out of memory");
	}
	fclose(f);
	*len = n;
	return buf;
}

const char *tu_testdata(const char *rel)
{
	static char path[1024];
	const char *base = getenv("CERTPIN_TESTDATA");
	if (base == NULL)
		base = "../shared/testdata";
	snprintf(path, sizeof path, "%s/%s", base, rel);
	return path;
}

const char *tu_tmpdir(void)
{
	if (tmpdir_path[0] == '\0') {
		snprintf(tmpdir_path, sizeof tmpdir_path, "/tmp/certpin-test-XXXXXX");
		if (mkdtemp(tmpdir_path) == NULL)
			die("mkdtemp failed");
		atexit(tu_cleanup);
	}
	return tmpdir_path;
}

const char *tu_write_tmp(const char *name, const void *data, size_t len)
{
	static char path[512];
	snprintf(path, sizeof path, "%s/%s", tu_tmpdir(), name);
	FILE *f = fopen(path, "wb");
	if (f == NULL || fwrite(data, 1, len, f) != len)
		die("cannot write temporary file");
	fclose(f);
	return path;
}

EVP_PKEY *tu_key(enum tu_key_type t)
{
	EVP_PKEY *k = NULL;
	switch (t) {
	case TU_RSA1024:
		k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
		break;
	case TU_RSA2048:
		k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
		break;
	case TU_RSA3072:
		k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)3072);
		break;
	case TU_P256:
		k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
		break;
	case TU_P384:
		k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
		break;
	case TU_P521:
		k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521");
		break;
	case TU_ED25519:
		k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
		break;
	case TU_ED448:
		k = EVP_PKEY_Q_keygen(NULL, NULL, "ED448");
		break;
	default:
		break;
	}
	if (k == NULL)
		die("key generation failed");
	return k;
}

static void add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer ? issuer : cert, cert, NULL, NULL, 0);
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (ext == NULL || !X509_add_ext(cert, ext, -1))
		die("cannot add extension");
	X509_EXTENSION_free(ext);
}

X509 *tu_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key, int ca,
              const char *san, int64_t not_before, int64_t not_after)
{
	static long serial = 1000;
	X509 *x = X509_new();
	if (x == NULL)
		die("X509_new");
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), ++serial);
	X509_NAME *name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
	ASN1_TIME_set(X509_getm_notBefore(x), (time_t)not_before);
	ASN1_TIME_set(X509_getm_notAfter(x), (time_t)not_after);
	X509_set_pubkey(x, key);
	add_ext(x, issuer, NID_subject_key_identifier, "hash");
	if (issuer != NULL)
		add_ext(x, issuer, NID_authority_key_identifier, "keyid:always");
	if (ca) {
		add_ext(x, issuer, NID_basic_constraints, "critical,CA:TRUE");
		add_ext(x, issuer, NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature");
		if (san != NULL)
			add_ext(x, issuer, NID_subject_alt_name, san);
	} else {
		add_ext(x, issuer, NID_basic_constraints, "critical,CA:FALSE");
		add_ext(x, issuer, NID_ext_key_usage, "serverAuth");
		if (san != NULL)
			add_ext(x, issuer, NID_subject_alt_name, san);
	}
	EVP_PKEY *signer = issuer ? issuer_key : key;
	int id = EVP_PKEY_get_base_id(signer);
	const EVP_MD *md = (id == EVP_PKEY_ED25519 || id == EVP_PKEY_ED448) ? NULL : EVP_sha256();
	if (X509_sign(x, signer, md) <= 0)
		die("X509_sign");
	return x;
}

uint8_t *tu_der(X509 *x, size_t *len)
{
	unsigned char *p = NULL;
	int n = i2d_X509(x, &p);
	if (n <= 0)
		die("i2d_X509");
	uint8_t *out = malloc((size_t)n);
	memcpy(out, p, (size_t)n);
	OPENSSL_free(p);
	*len = (size_t)n;
	return out;
}

uint8_t *tu_spki_der(EVP_PKEY *key, size_t *len)
{
	unsigned char *p = NULL;
	int n = i2d_PUBKEY(key, &p);
	if (n <= 0)
		die("i2d_PUBKEY");
	uint8_t *out = malloc((size_t)n);
	memcpy(out, p, (size_t)n);
	OPENSSL_free(p);
	*len = (size_t)n;
	return out;
}

const char *tu_spki_pin_text(EVP_PKEY *key)
{
	static char text[64];
	size_t n;
	uint8_t *spki = tu_spki_der(key, &n);
	unsigned char md[32];
	unsigned int mdlen = 0;
	if (!EVP_Digest(spki, n, md, &mdlen, EVP_sha256(), NULL))
		die("EVP_Digest");
	free(spki);
	memcpy(text, "sha256/", 7);
	EVP_EncodeBlock((unsigned char *)text + 7, md, 32);
	return text;
}
