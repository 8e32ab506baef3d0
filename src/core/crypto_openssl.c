/*
 * Crypto backend on OpenSSL 3: SHA-256 and Name-to-text. An mbedTLS build
 * replaces this file.
 *
 * cp_sha256 is on the hot path of every pin check. OpenSSL 3's SHA256() and
 * EVP_sha256() look the algorithm up in the provider store on every call
 * (about 200 ns, as much as hashing a P-256 SPKI), and EVP_Digest() also
 * allocates a context each time. So the digest is fetched once per process
 * and each thread keeps one EVP_MD_CTX that it reinitialises per hash. A
 * caller that hashes several things (certpin_evaluate: one per certificate)
 * looks that context up once with cp_sha256_ctx_get.
 */
#include <limits.h>
#include <pthread.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "internal.h"

static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;
static EVP_MD *sha256_md;     /* never freed: threads may hash until exit */
static pthread_key_t ctx_key; /* per-thread EVP_MD_CTX, freed at thread exit */
static int ctx_key_ok;

static void ctx_destroy(void *p)
{
	EVP_MD_CTX_free(p);
}

static void sha256_init(void)
{
	if (pthread_key_create(&ctx_key, ctx_destroy) != 0)
		return;
	ctx_key_ok = 1;
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

/*
 * When a shared libcertpin is unloaded, thread-exit destructors must not
 * call into it: delete the key (contexts of live threads are then leaked,
 * which is the lesser harm).
 */
__attribute__((destructor)) static void sha256_unload(void)
{
	if (ctx_key_ok) {
		ctx_key_ok = 0;
		pthread_key_delete(ctx_key);
	}
}

static EVP_MD_CTX *thread_ctx(void)
{
	EVP_MD_CTX *ctx = pthread_getspecific(ctx_key);
	if (ctx != NULL)
		return ctx;
	ctx = EVP_MD_CTX_new();
	if (ctx == NULL)
		return NULL;
	if (pthread_setspecific(ctx_key, ctx) != 0) {
		EVP_MD_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

/* The digest itself, on a context of this thread; the caller checked the arguments. */
static inline int digest(EVP_MD_CTX *ctx, const uint8_t *p, size_t n, uint8_t out[CERTPIN_HASH_LEN])
{
	unsigned int len = 0;
	if (!EVP_DigestInit_ex2(ctx, sha256_md, NULL) || !EVP_DigestUpdate(ctx, p, n) ||
	    !EVP_DigestFinal_ex(ctx, out, &len) || len != CERTPIN_HASH_LEN) {
		/* callers fail closed; don't hand back a half-written hash */
		memset(out, 0, CERTPIN_HASH_LEN);
		return -1;
	}
	return 0;
}

int cp_sha256(const uint8_t *p, size_t n, uint8_t out[CERTPIN_HASH_LEN])
{
	if (out == NULL || (p == NULL && n != 0))
		return -1;
	if (pthread_once(&sha256_once, sha256_init) != 0 || !ctx_key_ok || sha256_md == NULL)
		return -1;
	EVP_MD_CTX *ctx = thread_ctx();
	if (ctx == NULL)
		return -1;
	return digest(ctx, p, n, out);
}

/*
 * The cp_sha256_ctx handed out is the thread's EVP_MD_CTX itself (the type
 * is opaque to callers, so an mbedTLS file can hand out its own context).
 */
cp_sha256_ctx *cp_sha256_ctx_get(void)
{
	if (pthread_once(&sha256_once, sha256_init) != 0 || !ctx_key_ok || sha256_md == NULL)
		return NULL;
	return (cp_sha256_ctx *)thread_ctx();
}

int cp_sha256_with(cp_sha256_ctx *ctx, const uint8_t *p, size_t n, uint8_t out[CERTPIN_HASH_LEN])
{
	if (out == NULL)
		return -1;
	if (ctx == NULL || (p == NULL && n != 0)) {
		memset(out, 0, CERTPIN_HASH_LEN);
		return -1;
	}
	return digest((EVP_MD_CTX *)ctx, p, n, out);
}

certpin_err cp_name_to_text(const uint8_t *der, size_t len, char *buf, size_t n)
{
	if (der == NULL || buf == NULL || n == 0)
		return CERTPIN_E_INVALID_ARG;
	buf[0] = '\0';
	if (len == 0 || len > (size_t)LONG_MAX)
		return CERTPIN_E_DER;

	const unsigned char *p = der;
	X509_NAME *name = d2i_X509_NAME(NULL, &p, (long)len);
	if (name == NULL)
		return CERTPIN_E_DER;
	certpin_err rc = CERTPIN_E_DER;
	if (p != der + len)
		goto out_name; /* trailing bytes: not one Name */

	rc = CERTPIN_E_INTERNAL;
	BIO *bio = BIO_new(BIO_s_mem());
	if (bio == NULL)
		goto out_name;
	if (X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) < 0)
		goto out_bio;
	char *text = NULL;
	long tlen = BIO_get_mem_data(bio, &text);
	if (tlen < 0 || (tlen > 0 && text == NULL))
		goto out_bio;
	size_t tn = (size_t)tlen;
	if (tn < n) {
		if (tn > 0)
			memcpy(buf, text, tn);
		buf[tn] = '\0';
		rc = CERTPIN_OK;
	} else {
		size_t cut = cp_utf8_cut(text, n - 1);
		memcpy(buf, text, cut);
		buf[cut] = '\0';
		rc = CERTPIN_E_BUFFER;
	}
out_bio:
	BIO_free(bio);
out_name:
	X509_NAME_free(name);
	return rc;
}
