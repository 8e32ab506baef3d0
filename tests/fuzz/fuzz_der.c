/*
 * Target: cp_der_cert_view, the DER walk that finds the SPKI, subject and
 * issuer of a certificate without building an X509 (certificates from the
 * DER chain API, pin_files, key files).
 * Differential against OpenSSL: when the walk and d2i_X509 both accept the
 * input and OpenSSL consumed all of it, the SPKI slice must equal
 * i2d_X509_PUBKEY and the subject/issuer slices i2d_X509_NAME of OpenSSL's
 * parse, so DER-path pins equal the pins the TLS adapters compute. Also:
 * every slice lies inside the input, and the pin functions agree with it.
 */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void inside(cp_slice s, cp_slice outer)
{
	if (s.p == NULL || s.n == 0 || s.p < outer.p || s.n > outer.n ||
	    (size_t)(s.p - outer.p) > outer.n - s.n)
		abort();
}

static void same_as(cp_slice s, int (*i2d)(const void *, unsigned char **), const void *obj)
{
	unsigned char *enc = NULL;
	int n = i2d(obj, &enc);
	if (n <= 0 || (size_t)n != s.n || memcmp(enc, s.p, s.n) != 0)
		abort();
	OPENSSL_free(enc);
}

static int i2d_pubkey(const void *o, unsigned char **pp)
{
	return i2d_X509_PUBKEY((const X509_PUBKEY *)o, pp);
}

static int i2d_name(const void *o, unsigned char **pp)
{
	return i2d_X509_NAME((const X509_NAME *)o, pp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cp_cert_view v;
	certpin_err rc = cp_der_cert_view(data, size, &v);
	certpin_pin pin;
	certpin_err prc = certpin_pin_spki_from_cert_der(data, size, &pin);
	if (rc != CERTPIN_OK) {
		if (rc != CERTPIN_E_DER || prc != CERTPIN_E_DER || pin.type != 0)
			abort();
		if (v.whole.p != NULL || v.spki.p != NULL)
			abort();
	} else {
		cp_slice all = {data, size};
		if (v.whole.p != data || v.whole.n != size)
			abort();
		inside(v.tbs, v.whole);
		inside(v.issuer, v.tbs);
		inside(v.subject, v.tbs);
		inside(v.spki, v.tbs);
		inside(v.spki, all);
		if (!(v.issuer.p + v.issuer.n <= v.subject.p &&
		      v.subject.p + v.subject.n <= v.spki.p))
			abort();
		if (cp_der_spki_check(v.spki.p, v.spki.n) != 0)
			abort();
		uint8_t h[32];
		if (prc != CERTPIN_OK || cp_sha256(v.spki.p, v.spki.n, h) != 0 ||
		    memcmp(h, pin.hash, 32) != 0)
			abort();
	}

	if (size > (size_t)LONG_MAX)
		return 0;
	const unsigned char *p = data;
	X509 *x = d2i_X509(NULL, &p, (long)size);
	if (x != NULL && rc == CERTPIN_OK && p == data + size) {
		same_as(v.spki, i2d_pubkey, X509_get_X509_PUBKEY(x));
		same_as(v.subject, i2d_name, X509_get_subject_name(x));
		same_as(v.issuer, i2d_name, X509_get_issuer_name(x));
	}
	X509_free(x);
	return 0;
}
