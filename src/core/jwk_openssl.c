/*
 * JWS signing keys on OpenSSL: P-256 (ES256) and Ed25519 (EdDSA). The rest
 * of the bundle code (src/formats/bundle.c) sees only cp_jkey, so another
 * crypto backend replaces this file alone.
 *
 * ES256 signatures travel as 64-byte R||S (RFC 7518 3.4); OpenSSL speaks
 * DER ECDSA-Sig-Value, so both directions convert here, refusing any other
 * length. Public keys built from JWK coordinates are checked to be on the
 * curve before use.
 */
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct cp_jkey {
	EVP_PKEY *pk;
	enum cp_jws_alg alg;
	int priv;
	uint8_t x[32], y[32];
};

void cp_jkey_free(cp_jkey *k)
{
	if (k == NULL)
		return;
	EVP_PKEY_free(k->pk);
	free(k);
}

enum cp_jws_alg cp_jkey_alg(const cp_jkey *k)
{
	return k->alg;
}

int cp_jkey_is_private(const cp_jkey *k)
{
	return k->priv;
}

const uint8_t *cp_jkey_x(const cp_jkey *k)
{
	return k->x;
}

const uint8_t *cp_jkey_y(const cp_jkey *k)
{
	return k->alg == CP_ALG_ES256 ? k->y : NULL;
}

/*
 * Ed25519 public keys of small order, and non-canonical encodings (y >= p):
 * with such a key a signature can verify for any message, so a signer set
 * carrying one would let anyone sign bundles. The list is the usual one
 * (libsodium's ge25519_has_small_order), compared without the sign bit.
 */
static int ed25519_weak(const uint8_t x[32])
{
	static const uint8_t small_order[][32] = {
		{0},
		{1},
		{0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98,
		 0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53,
		 0xfc, 0x05},
		{0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67,
		 0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac,
		 0x03, 0x7a},
	};
	for (size_t i = 0; i < sizeof small_order / sizeof small_order[0]; i++)
		if (memcmp(x, small_order[i], 31) == 0 && (x[31] & 0x7f) == small_order[i][31])
			return 1;
	/* y >= p = 2^255 - 19: 0x7f ff .. ff and a low byte >= 0xed (p-1, p, p+1, ...) */
	if ((x[31] & 0x7f) == 0x7f && x[0] >= 0xec) {
		int all_ff = 1;
		for (int i = 1; i < 31; i++)
			all_ff &= x[i] == 0xff;
		if (all_ff)
			return 1;
	}
	return 0;
}

/* Fills alg and the coordinates from pk; 0, or -1 for another key type. */
static int describe(cp_jkey *k)
{
	if (EVP_PKEY_is_a(k->pk, "ED25519")) {
		size_t l = sizeof k->x;
		if (EVP_PKEY_get_raw_public_key(k->pk, k->x, &l) != 1 || l != 32 || ed25519_weak(k->x))
			return -1;
		k->alg = CP_ALG_EDDSA;
		return 0;
	}
	if (EVP_PKEY_is_a(k->pk, "EC")) {
		char group[32];
		uint8_t pt[65];
		size_t gl = 0, pl = 0;
		if (EVP_PKEY_get_utf8_string_param(k->pk, OSSL_PKEY_PARAM_GROUP_NAME, group,
		                                   sizeof group, &gl) != 1 ||
		    strcmp(group, "prime256v1") != 0)
			return -1;
		/* the uncompressed point 04 || X || Y, whatever form it was read in */
		if (EVP_PKEY_set_utf8_string_param(k->pk, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
		                                   "uncompressed") != 1 ||
		    EVP_PKEY_get_octet_string_param(k->pk, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, pt,
		                                    sizeof pt, &pl) != 1 ||
		    pl != 65 || pt[0] != 0x04)
			return -1;
		memcpy(k->x, pt + 1, 32);
		memcpy(k->y, pt + 33, 32);
		k->alg = CP_ALG_ES256;
		return 0;
	}
	return -1;
}

static int no_password(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1; /* never prompt: an encrypted key is refused */
}

certpin_err cp_jkey_from_pem(const char *pem, size_t len, cp_jkey **out, certpin_error *err)
{
	*out = NULL;
	if (len > 64 * 1024 || len > (size_t)INT32_MAX)
		return cp_err_set(err, CERTPIN_E_TOO_LARGE, "a key file is at most 64 KiB");
	cp_jkey *k = calloc(1, sizeof *k);
	if (k == NULL)
		return cp_err_set(err, CERTPIN_E_NOMEM, "out of memory");
	BIO *b = BIO_new_mem_buf(pem, (int)len);
	if (b != NULL) {
		k->pk = PEM_read_bio_PrivateKey(b, NULL, no_password, NULL);
		k->priv = k->pk != NULL;
		if (k->pk == NULL && BIO_reset(b) == 1)
			k->pk = PEM_read_bio_PUBKEY(b, NULL, no_password, NULL);
		BIO_free(b);
	}
	ERR_clear_error();
	if (k->pk == NULL) {
		cp_jkey_free(k);
		return cp_err_set(err, CERTPIN_E_KEY_FILE,
		                  "no PEM public or (unencrypted) private key found");
	}
	if (describe(k) != 0) {
		cp_jkey_free(k);
		ERR_clear_error();
		return cp_err_set(err, CERTPIN_E_KEY_FILE,
		                  "the key is not P-256 (ES256) or Ed25519 (EdDSA)");
	}
	*out = k;
	return CERTPIN_OK;
}

certpin_err cp_jkey_from_raw(enum cp_jws_alg alg, const uint8_t *x, size_t xl, const uint8_t *y,
                             size_t yl, cp_jkey **out)
{
	*out = NULL;
	cp_jkey *k = calloc(1, sizeof *k);
	if (k == NULL)
		return CERTPIN_E_NOMEM;
	certpin_err rc = CERTPIN_E_KEY_FILE;
	if (alg == CP_ALG_EDDSA && xl == 32 && y == NULL) {
		k->pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, x, 32);
	} else if (alg == CP_ALG_ES256 && xl == 32 && y != NULL && yl == 32) {
		uint8_t pt[65];
		pt[0] = 0x04;
		memcpy(pt + 1, x, 32);
		memcpy(pt + 33, y, 32);
		OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
		OSSL_PARAM *params = NULL;
		EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
		if (bld != NULL && pc != NULL &&
		    OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) ==
		        1 &&
		    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof pt) == 1 &&
		    (params = OSSL_PARAM_BLD_to_param(bld)) != NULL &&
		    EVP_PKEY_fromdata_init(pc) == 1 &&
		    EVP_PKEY_fromdata(pc, &k->pk, EVP_PKEY_PUBLIC_KEY, params) == 1) {
			/* the point must be on the curve */
			EVP_PKEY_CTX *cc = EVP_PKEY_CTX_new_from_pkey(NULL, k->pk, NULL);
			if (cc == NULL || EVP_PKEY_public_check(cc) != 1) {
				EVP_PKEY_free(k->pk);
				k->pk = NULL;
			}
			EVP_PKEY_CTX_free(cc);
		}
		OSSL_PARAM_free(params);
		OSSL_PARAM_BLD_free(bld);
		EVP_PKEY_CTX_free(pc);
	}
	if (k->pk != NULL && describe(k) == 0 && k->alg == alg) {
		*out = k;
		rc = CERTPIN_OK;
	} else {
		cp_jkey_free(k);
	}
	ERR_clear_error();
	return rc;
}

/* 64-byte R||S -> DER ECDSA-Sig-Value (malloc'd) */
static unsigned char *raw_to_der(const uint8_t *sig, int *dl)
{
	ECDSA_SIG *es = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(sig, 32, NULL), *s = BN_bin2bn(sig + 32, 32, NULL);
	unsigned char *der = NULL;
	*dl = 0;
	if (es == NULL || r == NULL || s == NULL || ECDSA_SIG_set0(es, r, s) != 1) {
		BN_free(r);
		BN_free(s);
		ECDSA_SIG_free(es);
		return NULL;
	}
	*dl = i2d_ECDSA_SIG(es, &der);
	ECDSA_SIG_free(es);
	if (*dl <= 0) {
		OPENSSL_free(der);
		return NULL;
	}
	return der;
}

int cp_jkey_verify(const cp_jkey *k, const uint8_t *msg, size_t n, const uint8_t *sig, size_t sl)
{
	if (sl != 64)
		return 0;
	EVP_MD_CTX *mc = EVP_MD_CTX_new();
	int ok = 0;
	if (mc == NULL)
		return 0;
	if (k->alg == CP_ALG_EDDSA) {
		ok = EVP_DigestVerifyInit_ex(mc, NULL, NULL, NULL, NULL, k->pk, NULL) == 1 &&
		     EVP_DigestVerify(mc, sig, sl, msg, n) == 1;
	} else {
		int dl;
		unsigned char *der = raw_to_der(sig, &dl);
		ok = der != NULL &&
		     EVP_DigestVerifyInit_ex(mc, NULL, "SHA256", NULL, NULL, k->pk, NULL) == 1 &&
		     EVP_DigestVerify(mc, der, (size_t)dl, msg, n) == 1;
		OPENSSL_free(der);
	}
	EVP_MD_CTX_free(mc);
	ERR_clear_error();
	return ok;
}

int cp_jkey_sign(const cp_jkey *k, const uint8_t *msg, size_t n, uint8_t sig[64])
{
	if (!k->priv)
		return -1;
	EVP_MD_CTX *mc = EVP_MD_CTX_new();
	int rc = -1;
	if (mc == NULL)
		return -1;
	if (k->alg == CP_ALG_EDDSA) {
		size_t sl = 64;
		if (EVP_DigestSignInit_ex(mc, NULL, NULL, NULL, NULL, k->pk, NULL) == 1 &&
		    EVP_DigestSign(mc, sig, &sl, msg, n) == 1 && sl == 64)
			rc = 0;
	} else {
		unsigned char der[80];
		size_t dl = sizeof der;
		if (EVP_DigestSignInit_ex(mc, NULL, "SHA256", NULL, NULL, k->pk, NULL) == 1 &&
		    EVP_DigestSign(mc, der, &dl, msg, n) == 1) {
			const unsigned char *p = der;
			ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)dl);
			const BIGNUM *r = NULL, *s = NULL;
			if (es != NULL) {
				ECDSA_SIG_get0(es, &r, &s);
				if (BN_bn2binpad(r, sig, 32) == 32 && BN_bn2binpad(s, sig + 32, 32) == 32)
					rc = 0;
			}
			ECDSA_SIG_free(es);
		}
	}
	EVP_MD_CTX_free(mc);
	ERR_clear_error();
	return rc;
}

size_t cp_jkey_public_pem(const cp_jkey *k, char *buf, size_t n)
{
	BIO *b = BIO_new(BIO_s_mem());
	size_t out = 0;
	if (b != NULL && PEM_write_bio_PUBKEY(b, k->pk) == 1) {
		char *data = NULL;
		long l = BIO_get_mem_data(b, &data);
		if (l > 0 && (size_t)l < n) {
			memcpy(buf, data, (size_t)l);
			buf[l] = '\0';
			out = (size_t)l;
		}
	}
	BIO_free(b);
	ERR_clear_error();
	return out;
}
