/*
 * Certificates, public keys, private keys, CSRs and PKCS#12 from PEM or DER
 * (OpenSSL backend; the list, errors and entry points are in objects.c).
 *
 * Only the public part of a key is kept: private keys are turned into their
 * SubjectPublicKeyInfo and freed (OpenSSL clears key material on free) as
 * soon as they are decoded, and every buffer that held decoded or decrypted
 * private key bytes is wiped before it is released.
 *
 * Every parser result must consume its whole input (a PEM block's body or
 * the DER file): trailing bytes are an error, not something to skip.
 * Key derivations of encrypted keys and PKCS#12 files are capped, so a
 * hostile file cannot make us spin for minutes on a billion PBKDF2 rounds.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "internal.h"
#include "objects.h"

/*
 * Most PBKDF2 / PKCS#12 KDF iterations of one derivation. Common tools use
 * 2048 to 600000 (OWASP's 2023 figure for PBKDF2-SHA256); a million costs
 * about half a second here.
 */
#define CP_MAX_KDF_ITER 1000000
/* scrypt: most N * r * p (OpenSSL's default is 16384 * 8 * 1). */
#define CP_MAX_SCRYPT_WORK (1u << 22)
/* PKCS#12 SafeContents nested in bags: deepest level followed. */
#define CP_MAX_P12_DEPTH 4

/* Passed to OpenSSL's password callback: never prompts, never NULL. */
typedef struct cp_pw {
	const char *password;
} cp_pw;

/* ---- object details ------------------------------------------------------ */

static void key_type_text(const EVP_PKEY *pk, char *buf, size_t n)
{
	if (pk == NULL) {
		cp_strlcpy(buf, "unknown", n);
		return;
	}
	int bits = EVP_PKEY_get_bits(pk);
	if (EVP_PKEY_is_a(pk, "RSA")) {
		snprintf(buf, n, "RSA-%d", bits);
	} else if (EVP_PKEY_is_a(pk, "RSA-PSS")) {
		snprintf(buf, n, "RSA-PSS-%d", bits);
	} else if (EVP_PKEY_is_a(pk, "EC")) {
		char group[80];
		size_t glen = 0;
		if (EVP_PKEY_get_utf8_string_param(pk, "group", group, sizeof group, &glen) == 1 &&
		    glen > 0) {
			int nid = OBJ_sn2nid(group);
			const char *nist = nid != NID_undef ? EC_curve_nid2nist(nid) : NULL;
			/* truncation of an exotic curve name is fine: it is a label */
			cp_strlcpy(buf, "EC-", n);
			if (n > 3)
				cp_strlcpy(buf + 3, nist != NULL ? nist : group, n - 3);
		} else {
			snprintf(buf, n, "EC-%d", bits); /* explicit curve parameters */
		}
	} else if (EVP_PKEY_is_a(pk, "ED25519")) {
		cp_strlcpy(buf, "Ed25519", n);
	} else if (EVP_PKEY_is_a(pk, "ED448")) {
		cp_strlcpy(buf, "Ed448", n);
	} else if (EVP_PKEY_is_a(pk, "X25519")) {
		cp_strlcpy(buf, "X25519", n);
	} else if (EVP_PKEY_is_a(pk, "X448")) {
		cp_strlcpy(buf, "X448", n);
	} else if (EVP_PKEY_is_a(pk, "DSA")) {
		snprintf(buf, n, "DSA-%d", bits);
	} else if (EVP_PKEY_is_a(pk, "DH") || EVP_PKEY_is_a(pk, "DHX")) {
		snprintf(buf, n, "DH-%d", bits);
	} else {
		const char *t = EVP_PKEY_get0_type_name(pk);
		cp_strlcpy(buf, t != NULL ? t : "unknown", n);
	}
	/* keep it printable whatever a provider calls its keys */
	for (char *p = buf; *p != '\0'; p++)
		if ((unsigned char)*p < 0x21 || (unsigned char)*p > 0x7e)
			*p = '?';
}

/* RFC 2253 text of a name, owned by the caller. */
static certpin_err name_text(cp_reader *r, const X509_NAME *nm, char **out)
{
	*out = NULL;
	BIO *b = BIO_new(BIO_s_mem());
	if (b == NULL)
		return cp_obj_fail_nomem(r);
	certpin_err rc = CERTPIN_OK;
	if (X509_NAME_print_ex(b, nm, 0, XN_FLAG_RFC2253) < 0) {
		rc = cp_obj_fail(r, CERTPIN_E_KEY_FILE, "cannot print subject name");
		goto out;
	}
	char *p = NULL;
	long n = BIO_get_mem_data(b, &p);
	if (n < 0 || (n > 0 && p == NULL)) {
		rc = cp_obj_fail(r, CERTPIN_E_INTERNAL, "cannot print subject name");
		goto out;
	}
	char *s = malloc((size_t)n + 1);
	if (s == NULL) {
		rc = cp_obj_fail_nomem(r);
		goto out;
	}
	if (n > 0)
		memcpy(s, p, (size_t)n);
	s[n] = '\0';
	/* RFC 2253 escaping leaves no control bytes; be sure of one line anyway */
	for (long i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] == 0x7f)
			s[i] = '?';
	*out = s;
out:
	BIO_free(b);
	return rc;
}

/* SPKI pin of an encoded X509_PUBKEY. */
static certpin_err spki_pin_of(cp_reader *r, const X509_PUBKEY *xpk, certpin_pin *pin)
{
	unsigned char *der = NULL;
	int n = xpk != NULL ? i2d_X509_PUBKEY(xpk, &der) : -1;
	if (n <= 0)
		return cp_obj_fail(r, CERTPIN_E_KEY_FILE, "cannot encode the public key");
	certpin_err rc = certpin_pin_spki_from_spki_der(der, (size_t)n, pin);
	OPENSSL_free(der);
	if (rc != CERTPIN_OK)
		return cp_obj_fail(r, CERTPIN_E_KEY_FILE, "public key is not valid DER");
	return CERTPIN_OK;
}

/*
 * Adds a public or private key; frees pk in every case (for a private key
 * that releases, and OpenSSL clears, the secret right away).
 */
static certpin_err add_key(cp_reader *r, certpin_object_kind kind, EVP_PKEY *pk)
{
	cp_obj *o = NULL;
	certpin_err rc = cp_obj_list_push(r, &o);
	if (rc != CERTPIN_OK) {
		EVP_PKEY_free(pk);
		return rc;
	}
	o->pub.kind = kind;
	o->pub.line = r->line;
	key_type_text(pk, o->key_type, sizeof o->key_type);
	unsigned char *der = NULL;
	int n = i2d_PUBKEY(pk, &der);
	EVP_PKEY_free(pk);
	if (n <= 0) {
		cp_obj_list_pop(r->list);
		return cp_obj_fail(r, CERTPIN_E_KEY_FILE, "cannot encode the public key");
	}
	rc = certpin_pin_spki_from_spki_der(der, (size_t)n, &o->pub.spki_pin);
	OPENSSL_free(der);
	if (rc != CERTPIN_OK) {
		cp_obj_list_pop(r->list);
		return cp_obj_fail(r, CERTPIN_E_KEY_FILE, "public key is not valid DER");
	}
	return CERTPIN_OK;
}

/*
 * Adds a certificate and frees x. der/len is the certificate as it appears in
 * the input, or NULL to re-encode it (PKCS#12).
 */
static certpin_err add_cert(cp_reader *r, X509 *x, const uint8_t *der, size_t len)
{
	cp_obj *o = NULL;
	unsigned char *enc = NULL;
	certpin_err rc = cp_obj_list_push(r, &o);
	if (rc != CERTPIN_OK)
		goto out;
	o->pub.kind = CERTPIN_OBJ_CERT;
	o->pub.line = r->line;
	if (der == NULL) {
		int n = i2d_X509(x, &enc);
		if (n <= 0) {
			rc = cp_obj_fail(r, CERTPIN_E_KEY_FILE, "cannot encode the certificate");
			goto fail;
		}
		der = enc;
		len = (size_t)n;
	}
	if (certpin_pin_cert_from_cert_der(der, len, &o->pub.cert_pin) != CERTPIN_OK) {
		rc = cp_obj_fail(r, CERTPIN_E_KEY_FILE, "certificate is not valid DER");
		goto fail;
	}
	o->der = malloc(len);
	if (o->der == NULL) {
		rc = cp_obj_fail_nomem(r);
		goto fail;
	}
	memcpy(o->der, der, len);
	o->pub.der_len = len;
	rc = spki_pin_of(r, X509_get_X509_PUBKEY(x), &o->pub.spki_pin);
	if (rc != CERTPIN_OK)
		goto fail;
	rc = name_text(r, X509_get_subject_name(x), &o->subject);
	if (rc != CERTPIN_OK)
		goto fail;
	EVP_PKEY *pk = X509_get0_pubkey(x); /* NULL for key types OpenSSL lacks */
	key_type_text(pk, o->key_type, sizeof o->key_type);
	o->pub.is_ca = (X509_get_extension_flags(x) & EXFLAG_CA) != 0;
	o->pub.self_signed =
	    pk != NULL && X509_NAME_cmp(X509_get_subject_name(x), X509_get_issuer_name(x)) == 0 &&
	    X509_verify(x, pk) == 1;
	goto out;
fail:
	cp_obj_list_pop(r->list);
out:
	OPENSSL_free(enc);
	X509_free(x);
	return rc;
}

/* Adds a CSR and frees req. */
static certpin_err add_csr(cp_reader *r, X509_REQ *req)
{
	cp_obj *o = NULL;
	certpin_err rc = cp_obj_list_push(r, &o);
	if (rc != CERTPIN_OK)
		goto out;
	o->pub.kind = CERTPIN_OBJ_CSR;
	o->pub.line = r->line;
	rc = spki_pin_of(r, X509_REQ_get_X509_PUBKEY(req), &o->pub.spki_pin);
	if (rc == CERTPIN_OK)
		rc = name_text(r, X509_REQ_get_subject_name(req), &o->subject);
	if (rc != CERTPIN_OK) {
		cp_obj_list_pop(r->list);
		goto out;
	}
	key_type_text(X509_REQ_get0_pubkey(req), o->key_type, sizeof o->key_type);
out:
	X509_REQ_free(req);
	return rc;
}

/* ---- passwords and key derivation caps ------------------------------------ */

static int cp_password_cb(char *buf, int size, int rwflag, void *u)
{
	(void)rwflag;
	const cp_pw *pw = u;
	if (pw == NULL || pw->password == NULL || size <= 0)
		return -1;
	size_t n = strlen(pw->password);
	if (n > (size_t)size)
		return -1;
	memcpy(buf, pw->password, n);
	return (int)n;
}

/* 1 when the INTEGER is in 1..max. */
static int int_in_range(const ASN1_INTEGER *v, int64_t max)
{
	int64_t x = 0;
	return v != NULL && ASN1_INTEGER_get_int64(&x, v) == 1 && x >= 1 && x <= max;
}

/*
 * Checks the cost of a password-based encryption algorithm (PBES1, PKCS#12
 * PBE, or PBES2 with PBKDF2 or scrypt) before anything derives a key with it.
 */
static certpin_err kdf_cost_ok(cp_reader *r, const X509_ALGOR *alg)
{
	const ASN1_OBJECT *obj = NULL;
	int ptype = 0;
	const void *pval = NULL;
	certpin_err rc = CERTPIN_OK;
	if (alg == NULL)
		return cp_obj_fail(r, CERTPIN_E_KEY_FILE, "missing encryption algorithm");
	X509_ALGOR_get0(&obj, &ptype, &pval, alg);
	int nid = OBJ_obj2nid(obj);
	if (EVP_PBE_find(EVP_PBE_TYPE_OUTER, nid, NULL, NULL, NULL) != 1)
		return cp_obj_fail(r, CERTPIN_E_KEY_FILE, "unsupported key encryption algorithm");
	if (ptype != V_ASN1_SEQUENCE || pval == NULL)
		return cp_obj_fail(r, CERTPIN_E_KEY_FILE, "malformed key encryption parameters");
	if (nid != NID_pbes2) {
		PBEPARAM *pbe = ASN1_item_unpack(pval, ASN1_ITEM_rptr(PBEPARAM));
		if (pbe == NULL)
			return cp_obj_fail(r, CERTPIN_E_KEY_FILE, "malformed key encryption parameters");
		if (!int_in_range(pbe->iter, CP_MAX_KDF_ITER))
			rc = cp_obj_fail(r, CERTPIN_E_TOO_LARGE, "PBE iteration count is not in 1..%d",
			          CP_MAX_KDF_ITER);
		PBEPARAM_free(pbe);
		return rc;
	}
	PBE2PARAM *p2 = ASN1_item_unpack(pval, ASN1_ITEM_rptr(PBE2PARAM));
	if (p2 == NULL || p2->keyfunc == NULL || p2->keyfunc->parameter == NULL ||
	    p2->keyfunc->parameter->type != V_ASN1_SEQUENCE) {
		PBE2PARAM_free(p2);
		return cp_obj_fail(r, CERTPIN_E_KEY_FILE, "malformed key encryption parameters");
	}
	const ASN1_STRING *kp = p2->keyfunc->parameter->value.sequence;
	switch (OBJ_obj2nid(p2->keyfunc->algorithm)) {
	case NID_id_pbkdf2: {
		PBKDF2PARAM *kdf = ASN1_item_unpack(kp, ASN1_ITEM_rptr(PBKDF2PARAM));
		if (kdf == NULL)
			rc = cp_obj_fail(r, CERTPIN_E_KEY_FILE, "malformed PBKDF2 parameters");
		else if (!int_in_range(kdf->iter, CP_MAX_KDF_ITER))
			rc = cp_obj_fail(r, CERTPIN_E_TOO_LARGE, "PBKDF2 iteration count is not in 1..%d",
			          CP_MAX_KDF_ITER);
		PBKDF2PARAM_free(kdf);
		break;
	}
	case NID_id_scrypt: {
		SCRYPT_PARAMS *sp = ASN1_item_unpack(kp, ASN1_ITEM_rptr(SCRYPT_PARAMS));
		if (sp == NULL) {
			rc = cp_obj_fail(r, CERTPIN_E_KEY_FILE, "malformed scrypt parameters");
		} else if (!int_in_range(sp->costParameter, CP_MAX_SCRYPT_WORK) ||
		           !int_in_range(sp->blockSize, CP_MAX_SCRYPT_WORK) ||
		           !int_in_range(sp->parallelizationParameter, CP_MAX_SCRYPT_WORK)) {
			rc = cp_obj_fail(r, CERTPIN_E_TOO_LARGE, "scrypt parameters over the limit");
		} else {
			int64_t N = 0, rr = 0, p = 0;
			ASN1_INTEGER_get_int64(&N, sp->costParameter);
			ASN1_INTEGER_get_int64(&rr, sp->blockSize);
			ASN1_INTEGER_get_int64(&p, sp->parallelizationParameter);
			/* N * r <= 2^44 fits; p is multiplied in only once N * r <= 2^22 */
			if (N * rr > (int64_t)CP_MAX_SCRYPT_WORK ||
			    N * rr * p > (int64_t)CP_MAX_SCRYPT_WORK)
				rc = cp_obj_fail(r, CERTPIN_E_TOO_LARGE,
				          "scrypt parameters over the limit");
		}
		SCRYPT_PARAMS_free(sp);
		break;
	}
	default:
		rc = cp_obj_fail(r, CERTPIN_E_KEY_FILE, "unsupported key derivation function");
		break;
	}
	PBE2PARAM_free(p2);
	return rc;
}

/* Decrypts an EncryptedPrivateKeyInfo and adds its key. */
static certpin_err add_encrypted_pkcs8(cp_reader *r, const X509_SIG *sig)
{
	const X509_ALGOR *alg = NULL;
	X509_SIG_get0(sig, &alg, NULL);
	CP_GUARD(kdf_cost_ok(r, alg));
	if (r->password == NULL)
		return cp_obj_fail(r, CERTPIN_E_PASSWORD, "encrypted private key needs a password");
	PKCS8_PRIV_KEY_INFO *p8 = PKCS8_decrypt(sig, r->password, -1);
	if (p8 == NULL)
		return cp_obj_fail(r, CERTPIN_E_PASSWORD,
		            "cannot decrypt the private key (wrong password?)");
	EVP_PKEY *pk = EVP_PKCS82PKEY(p8);
	PKCS8_PRIV_KEY_INFO_free(p8);
	if (pk == NULL)
		return cp_obj_fail(r, CERTPIN_E_KEY_FILE, "malformed private key");
	return add_key(r, CERTPIN_OBJ_PRIVKEY, pk);
}

/* 1 when an X509_SIG is an EncryptedPrivateKeyInfo (a known PBE scheme). */
static int is_encrypted_pkcs8(const X509_SIG *sig)
{
	const X509_ALGOR *alg = NULL;
	X509_SIG_get0(sig, &alg, NULL);
	if (alg == NULL)
		return 0;
	const ASN1_OBJECT *obj = NULL;
	X509_ALGOR_get0(&obj, NULL, NULL, alg);
	return EVP_PBE_find(EVP_PBE_TYPE_OUTER, OBJ_obj2nid(obj), NULL, NULL, NULL) == 1;
}

/* Adds the key of a PrivateKeyInfo (not freed here). */
static certpin_err add_pkcs8(cp_reader *r, const PKCS8_PRIV_KEY_INFO *p8)
{
	EVP_PKEY *pk = EVP_PKCS82PKEY(p8);
	if (pk == NULL)
		return cp_obj_fail(r, CERTPIN_E_KEY_FILE, "malformed or unsupported private key");
	return add_key(r, CERTPIN_OBJ_PRIVKEY, pk);
}

/* ---- PKCS#12 -------------------------------------------------------------- */

static certpin_err p12_bags(cp_reader *r, const STACK_OF(PKCS12_SAFEBAG) * bags, const char *pass,
                            int depth);

static certpin_err p12_bag(cp_reader *r, const PKCS12_SAFEBAG *bag, const char *pass, int depth)
{
	switch (PKCS12_SAFEBAG_get_nid(bag)) {
	case NID_keyBag: {
		const PKCS8_PRIV_KEY_INFO *p8 = PKCS12_SAFEBAG_get0_p8inf(bag);
		if (p8 == NULL)
			return cp_obj_fail(r, CERTPIN_E_KEY_FILE, "malformed PKCS#12 key bag");
		return add_pkcs8(r, p8);
	}
	case NID_pkcs8ShroudedKeyBag: {
		const X509_SIG *sig = PKCS12_SAFEBAG_get0_pkcs8(bag);
		const X509_ALGOR *alg = NULL;
		if (sig == NULL)
			return cp_obj_fail(r, CERTPIN_E_KEY_FILE, "malformed PKCS#12 key bag");
		X509_SIG_get0(sig, &alg, NULL);
		CP_GUARD(kdf_cost_ok(r, alg));
		PKCS8_PRIV_KEY_INFO *p8 = PKCS12_decrypt_skey(bag, pass, -1);
		if (p8 == NULL)
			return cp_obj_fail(r, CERTPIN_E_PASSWORD,
			            "cannot decrypt the PKCS#12 private key (wrong password?)");
		certpin_err rc = add_pkcs8(r, p8);
		PKCS8_PRIV_KEY_INFO_free(p8);
		return rc;
	}
	case NID_certBag: {
		if (PKCS12_SAFEBAG_get_bag_nid(bag) != NID_x509Certificate)
			return CERTPIN_OK; /* SDSI certificates: nothing to pin */
		X509 *x = PKCS12_SAFEBAG_get1_cert(bag);
		if (x == NULL)
			return cp_obj_fail(r, CERTPIN_E_KEY_FILE, "malformed certificate in PKCS#12");
		return add_cert(r, x, NULL, 0);
	}
	case NID_safeContentsBag: {
		const STACK_OF(PKCS12_SAFEBAG) *inner = PKCS12_SAFEBAG_get0_safes(bag);
		if (depth >= CP_MAX_P12_DEPTH)
			return cp_obj_fail(r, CERTPIN_E_TOO_LARGE, "PKCS#12 bags nested too deeply");
		if (inner == NULL)
			return cp_obj_fail(r, CERTPIN_E_KEY_FILE, "malformed PKCS#12 bag");
		return p12_bags(r, inner, pass, depth + 1);
	}
	default:
		return CERTPIN_OK; /* CRLs, secrets: nothing to pin */
	}
}

static certpin_err p12_bags(cp_reader *r, const STACK_OF(PKCS12_SAFEBAG) * bags, const char *pass,
                            int depth)
{
	for (int i = 0; i < sk_PKCS12_SAFEBAG_num(bags); i++)
		CP_GUARD(p12_bag(r, sk_PKCS12_SAFEBAG_value(bags, i), pass, depth));
	return CERTPIN_OK;
}

/* Works out the password the MAC was made with, as PKCS12_parse does. */
static certpin_err p12_password(cp_reader *r, PKCS12 *p12, const char **pass)
{
	*pass = r->password;
	if (!PKCS12_mac_present(p12)) {
		if (*pass != NULL && **pass == '\0')
			*pass = NULL;
		return CERTPIN_OK;
	}
	const ASN1_INTEGER *iter = NULL;
	PKCS12_get0_mac(NULL, NULL, NULL, &iter, p12);
	/* an absent count means 1 */
	if (iter != NULL && !int_in_range(iter, CP_MAX_KDF_ITER))
		return cp_obj_fail(r, CERTPIN_E_TOO_LARGE, "PKCS#12 MAC iteration count is not in 1..%d",
		            CP_MAX_KDF_ITER);
	if (*pass != NULL && **pass != '\0') {
		if (PKCS12_verify_mac(p12, *pass, -1) == 1)
			return CERTPIN_OK;
	} else if (PKCS12_verify_mac(p12, NULL, 0) == 1) {
		*pass = NULL;
		return CERTPIN_OK;
	} else if (PKCS12_verify_mac(p12, "", 0) == 1) {
		*pass = "";
		return CERTPIN_OK;
	}
	if (r->password == NULL)
		return cp_obj_fail(r, CERTPIN_E_PASSWORD, "PKCS#12 file needs a password");
	return cp_obj_fail(r, CERTPIN_E_PASSWORD, "PKCS#12 MAC verification failed (wrong password?)");
}

/* Adds the keys and certificates of a PKCS#12 file, in file order. */
static certpin_err add_pkcs12(cp_reader *r, PKCS12 *p12)
{
	const char *pass = NULL;
	CP_GUARD(p12_password(r, p12, &pass));
	STACK_OF(PKCS7) *asafes = PKCS12_unpack_authsafes(p12);
	if (asafes == NULL)
		return cp_obj_fail(r, CERTPIN_E_KEY_FILE, "malformed PKCS#12 contents");
	size_t before = r->list->n;
	certpin_err rc = CERTPIN_OK;
	for (int i = 0; i < sk_PKCS7_num(asafes) && rc == CERTPIN_OK; i++) {
		PKCS7 *p7 = sk_PKCS7_value(asafes, i);
		STACK_OF(PKCS12_SAFEBAG) *bags = NULL;
		switch (OBJ_obj2nid(p7->type)) {
		case NID_pkcs7_data:
			bags = PKCS12_unpack_p7data(p7);
			if (bags == NULL)
				rc = cp_obj_fail(r, CERTPIN_E_KEY_FILE, "malformed PKCS#12 contents");
			break;
		case NID_pkcs7_encrypted:
			if (p7->d.encrypted == NULL || p7->d.encrypted->enc_data == NULL) {
				rc = cp_obj_fail(r, CERTPIN_E_KEY_FILE, "malformed PKCS#12 contents");
				break;
			}
			rc = kdf_cost_ok(r, p7->d.encrypted->enc_data->algorithm);
			if (rc != CERTPIN_OK)
				break;
			bags = PKCS12_unpack_p7encdata(p7, pass, -1);
			if (bags == NULL)
				rc = cp_obj_fail(r, CERTPIN_E_PASSWORD,
				          "cannot decrypt the PKCS#12 contents (wrong password?)");
			break;
		default:
			break; /* public-key-encrypted contents: not supported, skipped */
		}
		if (bags != NULL)
			rc = p12_bags(r, bags, pass, 0);
		sk_PKCS12_SAFEBAG_pop_free(bags, PKCS12_SAFEBAG_free);
	}
	sk_PKCS7_pop_free(asafes, PKCS7_free);
	if (rc == CERTPIN_OK && r->list->n == before)
		rc = cp_obj_fail(r, CERTPIN_E_KEY_FILE, "PKCS#12 file holds no certificate or key");
	return rc;
}

/* ---- PEM ------------------------------------------------------------------ */

typedef enum cp_block_kind {
	BLK_CERT,
	BLK_TRUSTED_CERT,
	BLK_PUBKEY,
	BLK_RSA_PUBKEY,
	BLK_PKCS8,
	BLK_PKCS8_ENCRYPTED,
	BLK_RSA_PRIVKEY,
	BLK_EC_PRIVKEY,
	BLK_DSA_PRIVKEY,
	BLK_CSR,
	BLK_SKIP,
} cp_block_kind;

static const struct {
	const char *name;
	cp_block_kind kind;
} pem_types[] = {
    {"CERTIFICATE", BLK_CERT},
    {"X509 CERTIFICATE", BLK_CERT},
    {"TRUSTED CERTIFICATE", BLK_TRUSTED_CERT},
    {"PUBLIC KEY", BLK_PUBKEY},
    {"RSA PUBLIC KEY", BLK_RSA_PUBKEY},
    {"PRIVATE KEY", BLK_PKCS8},
    {"ENCRYPTED PRIVATE KEY", BLK_PKCS8_ENCRYPTED},
    {"RSA PRIVATE KEY", BLK_RSA_PRIVKEY},
    {"EC PRIVATE KEY", BLK_EC_PRIVKEY},
    {"DSA PRIVATE KEY", BLK_DSA_PRIVKEY},
    {"CERTIFICATE REQUEST", BLK_CSR},
    {"NEW CERTIFICATE REQUEST", BLK_CSR},
    /* parameters only: no key to pin */
    {"EC PARAMETERS", BLK_SKIP},
    {"DH PARAMETERS", BLK_SKIP},
    {"X9.42 DH PARAMETERS", BLK_SKIP},
    {"DSA PARAMETERS", BLK_SKIP},
};

/* Block type as text fit for a message: printable ASCII, bounded. */
static void printable_type(const char *name, char *out, size_t n)
{
	cp_strlcpy(out, name, n);
	for (char *p = out; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e || *p == '\'')
			*p = '?';
}

/* Parses one decoded PEM block body. Owns nothing. */
static certpin_err pem_block_body(cp_reader *r, cp_block_kind kind, const char *type,
                                  const unsigned char *body, size_t n, int decrypted)
{
	const unsigned char *p = body;
	const unsigned char *end = body + n;
	long ln = (long)n;
	char t[64];
	printable_type(type, t, sizeof t);

	switch (kind) {
	case BLK_CERT: {
		X509 *x = d2i_X509(NULL, &p, ln);
		if (x == NULL || p != end) {
			X509_free(x);
			break;
		}
		return add_cert(r, x, body, n);
	}
	case BLK_TRUSTED_CERT: {
		/* the certificate, then OpenSSL's trust settings */
		X509 *x = d2i_X509(NULL, &p, ln);
		int parsed = x != NULL;
		size_t cert_len = (size_t)(p - body);
		X509_free(x);
		if (!parsed)
			break;
		p = body;
		x = d2i_X509_AUX(NULL, &p, ln);
		if (x == NULL || p != end) {
			X509_free(x);
			break;
		}
		return add_cert(r, x, body, cert_len);
	}
	case BLK_PUBKEY:
	case BLK_RSA_PUBKEY: {
		EVP_PKEY *pk = kind == BLK_PUBKEY ? d2i_PUBKEY(NULL, &p, ln)
		                                  : d2i_PublicKey(EVP_PKEY_RSA, NULL, &p, ln);
		if (pk == NULL || p != end) {
			EVP_PKEY_free(pk);
			break;
		}
		return add_key(r, CERTPIN_OBJ_PUBKEY, pk);
	}
	case BLK_PKCS8: {
		PKCS8_PRIV_KEY_INFO *p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, ln);
		if (p8 == NULL || p != end) {
			PKCS8_PRIV_KEY_INFO_free(p8);
			break;
		}
		certpin_err rc = add_pkcs8(r, p8);
		PKCS8_PRIV_KEY_INFO_free(p8);
		return rc;
	}
	case BLK_PKCS8_ENCRYPTED: {
		X509_SIG *sig = d2i_X509_SIG(NULL, &p, ln);
		if (sig == NULL || p != end) {
			X509_SIG_free(sig);
			break;
		}
		certpin_err rc = add_encrypted_pkcs8(r, sig);
		X509_SIG_free(sig);
		return rc;
	}
	case BLK_RSA_PRIVKEY:
	case BLK_EC_PRIVKEY:
	case BLK_DSA_PRIVKEY: {
		int id = kind == BLK_RSA_PRIVKEY  ? EVP_PKEY_RSA
		         : kind == BLK_EC_PRIVKEY ? EVP_PKEY_EC
		                                  : EVP_PKEY_DSA;
		EVP_PKEY *pk = d2i_PrivateKey(id, NULL, &p, ln);
		if (pk == NULL || p != end) {
			EVP_PKEY_free(pk);
			if (decrypted)
				return cp_obj_fail(r, CERTPIN_E_PASSWORD,
				            "cannot decrypt the private key (wrong password?)");
			break;
		}
		return add_key(r, CERTPIN_OBJ_PRIVKEY, pk);
	}
	case BLK_CSR: {
		X509_REQ *req = d2i_X509_REQ(NULL, &p, ln);
		if (req == NULL || p != end) {
			X509_REQ_free(req);
			break;
		}
		return add_csr(r, req);
	}
	case BLK_SKIP:
		return CERTPIN_OK;
	default:
		return cp_obj_fail(r, CERTPIN_E_INTERNAL, "unhandled PEM block '%s'", t);
	}
	return cp_obj_fail(r, CERTPIN_E_KEY_FILE, "malformed PEM block '%s'", t);
}

/* One PEM block as PEM_read_bio_ex returned it (header and body are ours). */
static certpin_err pem_block(cp_reader *r, const char *type, char *header, unsigned char *body,
                             long n)
{
	char t[64];
	printable_type(type, t, sizeof t);
	cp_block_kind kind = BLK_SKIP;
	size_t i;
	for (i = 0; i < sizeof pem_types / sizeof pem_types[0]; i++)
		if (strcmp(type, pem_types[i].name) == 0)
			break;
	if (i == sizeof pem_types / sizeof pem_types[0])
		return cp_obj_fail(r, CERTPIN_E_KEY_FILE, "unsupported PEM block '%s'", t);
	kind = pem_types[i].kind;
	if (kind == BLK_SKIP)
		return CERTPIN_OK;

	int decrypted = 0;
	if (header != NULL && header[0] != '\0') {
		/* RFC 1421 headers: OpenSSL only knows (and we only accept) encryption */
		EVP_CIPHER_INFO ci;
		if (!PEM_get_EVP_CIPHER_INFO(header, &ci))
			return cp_obj_fail(r, CERTPIN_E_KEY_FILE,
			            "malformed or unsupported PEM header in '%s'", t);
		if (ci.cipher != NULL) {
			if (kind != BLK_RSA_PRIVKEY && kind != BLK_EC_PRIVKEY &&
			    kind != BLK_DSA_PRIVKEY)
				return cp_obj_fail(r, CERTPIN_E_KEY_FILE,
				            "encrypted PEM block '%s' is not supported", t);
			if (r->password == NULL)
				return cp_obj_fail(r, CERTPIN_E_PASSWORD,
				            "encrypted private key needs a password");
			cp_pw pw = {r->password};
			if (!PEM_do_header(&ci, body, &n, cp_password_cb, &pw))
				return cp_obj_fail(r, CERTPIN_E_PASSWORD,
				            "cannot decrypt the private key (wrong password?)");
			decrypted = 1;
		}
	}
	if (n < 0)
		return cp_obj_fail(r, CERTPIN_E_KEY_FILE, "malformed PEM block '%s'", t);
	return pem_block_body(r, kind, type, body, (size_t)n, decrypted);
}

/* 1 when the line at data[off..) opens a PEM block the way OpenSSL sees one. */
static int is_begin_line(const uint8_t *data, size_t len, size_t off)
{
	static const char begin[] = "-----BEGIN ";
	size_t e = off;
	while (e < len && data[e] != '\n')
		e++;
	while (e > off && data[e - 1] <= ' ')
		e--; /* OpenSSL drops trailing white space and control bytes */
	if (e - off < sizeof begin - 1 + 5 || memcmp(data + off, begin, sizeof begin - 1) != 0)
		return 0;
	return memcmp(data + e - 5, "-----", 5) == 0;
}

/* Offset of the first BEGIN line at or after `from` (a line start), or len. */
static size_t find_begin(const uint8_t *data, size_t len, size_t from)
{
	size_t off = from;
	while (off < len) {
		if (is_begin_line(data, len, off))
			return off;
		const uint8_t *nl = memchr(data + off, '\n', len - off);
		if (nl == NULL)
			break;
		off = (size_t)(nl - data) + 1;
	}
	return len;
}

/* The block type named on the BEGIN line at data[off..), for messages. */
static void begin_type(const uint8_t *data, size_t len, size_t off, char *out, size_t n)
{
	size_t s = off + 11, e = s; /* after "-----BEGIN " */
	out[0] = '\0';
	if (off >= len || !is_begin_line(data, len, off))
		return;
	while (e < len && data[e] != '\n' && data[e] != '-')
		e++;
	size_t k = e - s < n - 1 ? e - s : n - 1;
	memcpy(out, data + s, k);
	out[k] = '\0';
	for (char *p = out; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e || *p == '\'')
			*p = '?';
}

/* Line tracking that only ever moves forward (linear in the input). */
typedef struct cp_lines {
	size_t off;    /* counted up to here */
	unsigned line; /* line number at `off` */
} cp_lines;

static unsigned line_at(const uint8_t *data, size_t off, cp_lines *lc)
{
	for (; lc->off < off; lc->off++)
		if (data[lc->off] == '\n')
			lc->line++;
	return lc->line;
}

static void pem_free(char *type, char *header, unsigned char *body, long n)
{
	OPENSSL_secure_free(type);
	OPENSSL_secure_free(header);
	if (body != NULL)
		OPENSSL_secure_clear_free(body, n > 0 ? (size_t)n : 0);
}

/*
 * Reads every PEM block. *blocks receives how many BEGIN lines OpenSSL
 * found: when none, the caller may try DER.
 */
static certpin_err read_pem(cp_reader *r, const uint8_t *data, size_t len, size_t *blocks)
{
	*blocks = 0;
	BIO *bio = BIO_new_mem_buf(data, (int)len);
	if (bio == NULL)
		return cp_obj_fail_nomem(r);
	cp_lines lc = {0, 1};
	certpin_err rc = CERTPIN_OK;
	for (;;) {
		char *rest = NULL;
		long remaining = BIO_get_mem_data(bio, &rest);
		if (remaining < 0 || (size_t)remaining > len) {
			rc = cp_obj_fail(r, CERTPIN_E_INTERNAL, "PEM reader lost its place");
			break;
		}
		size_t from = len - (size_t)remaining;
		if (*blocks >= CP_MAX_PEM_BLOCKS) {
			rc = cp_obj_fail(r, CERTPIN_E_TOO_LARGE, "more than %u PEM blocks",
			          CP_MAX_PEM_BLOCKS);
			break;
		}

		char *type = NULL, *header = NULL;
		unsigned char *body = NULL;
		long n = 0;
		ERR_set_mark();
		int ok = PEM_read_bio_ex(bio, &type, &header, &body, &n,
		                         PEM_FLAG_SECURE | PEM_FLAG_EAY_COMPATIBLE);
		unsigned long e = ERR_peek_last_error();
		ERR_pop_to_mark();

		size_t at = find_begin(data, len, from);
		r->line = line_at(data, at < len ? at : from, &lc);
		if (!ok) {
			pem_free(type, header, body, n);
			if (ERR_GET_LIB(e) == ERR_LIB_PEM &&
			    ERR_GET_REASON(e) == PEM_R_NO_START_LINE)
				break; /* only text after the last block */
			(*blocks)++;
			char t[64];
			begin_type(data, len, at, t, sizeof t);
			rc = cp_obj_fail(r, CERTPIN_E_KEY_FILE, "malformed PEM block '%s'", t);
			break;
		}
		(*blocks)++;
		ERR_set_mark();
		rc = pem_block(r, type, header, body, n);
		ERR_pop_to_mark();
		pem_free(type, header, body, n);
		if (rc != CERTPIN_OK)
			break;
	}
	BIO_free(bio);
	r->line = 0;
	return rc;
}

/* ---- DER ------------------------------------------------------------------ */

/*
 * Tries each DER structure in turn; the first that parses and spans the whole
 * input decides. Returns CERTPIN_E_KEY_FILE without a message when none did.
 */
static certpin_err read_der_try(cp_reader *r, const uint8_t *data, size_t len)
{
	const unsigned char *end = data + len;
	const unsigned char *p;
	long n = (long)len;

	p = data;
	X509 *x = d2i_X509(NULL, &p, n);
	if (x != NULL && p == end)
		return add_cert(r, x, data, len);
	X509_free(x);

	p = data;
	EVP_PKEY *pk = d2i_PUBKEY(NULL, &p, n);
	if (pk != NULL && p == end)
		return add_key(r, CERTPIN_OBJ_PUBKEY, pk);
	EVP_PKEY_free(pk);

	/* before any key decoder that could ask for a password itself */
	p = data;
	X509_SIG *sig = d2i_X509_SIG(NULL, &p, n);
	if (sig != NULL && p == end && is_encrypted_pkcs8(sig)) {
		certpin_err rc = add_encrypted_pkcs8(r, sig);
		X509_SIG_free(sig);
		return rc;
	}
	X509_SIG_free(sig);

	p = data;
	PKCS8_PRIV_KEY_INFO *p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, n);
	if (p8 != NULL && p == end) {
		certpin_err rc = add_pkcs8(r, p8);
		PKCS8_PRIV_KEY_INFO_free(p8);
		return rc;
	}
	PKCS8_PRIV_KEY_INFO_free(p8);

	static const int trad[] = {EVP_PKEY_RSA, EVP_PKEY_EC, EVP_PKEY_DSA};
	for (size_t i = 0; i < sizeof trad / sizeof trad[0]; i++) {
		p = data;
		pk = d2i_PrivateKey(trad[i], NULL, &p, n);
		if (pk != NULL && p == end)
			return add_key(r, CERTPIN_OBJ_PRIVKEY, pk);
		EVP_PKEY_free(pk);
	}

	p = data;
	X509_REQ *req = d2i_X509_REQ(NULL, &p, n);
	if (req != NULL && p == end)
		return add_csr(r, req);
	X509_REQ_free(req);

	p = data;
	pk = d2i_PublicKey(EVP_PKEY_RSA, NULL, &p, n); /* PKCS#1 RSAPublicKey */
	if (pk != NULL && p == end)
		return add_key(r, CERTPIN_OBJ_PUBKEY, pk);
	EVP_PKEY_free(pk);

	p = data;
	PKCS12 *p12 = d2i_PKCS12(NULL, &p, n);
	if (p12 != NULL && p == end) {
		certpin_err rc = add_pkcs12(r, p12);
		PKCS12_free(p12);
		return rc;
	}
	PKCS12_free(p12);
	return cp_obj_fail(r, CERTPIN_E_KEY_FILE,
	            "not a PEM or DER certificate, public key, private key, CSR or PKCS#12");
}

/* ---- the backend's part of certpin_objects_from_mem -------------------------- */

certpin_err cp_objects_read(cp_reader *r, const uint8_t *data, size_t len)
{
	/* keep the caller's OpenSSL error queue as it was */
	ERR_set_mark();
	certpin_err rc = CERTPIN_OK;
	size_t blocks = 0;
	if (cp_obj_contains(data, len, "-----BEGIN "))
		rc = read_pem(r, data, len, &blocks);
	if (rc == CERTPIN_OK && blocks == 0)
		rc = read_der_try(r, data, len);
	ERR_pop_to_mark();
	return rc;
}
