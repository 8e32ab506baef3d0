/* DER walking: strict TLVs, certificate views against OpenSSL, every malformation refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "testutil.h"

/* ---- cp_der_tlv --------------------------------------------------------- */

struct tlv_case {
	const char *what;
	uint8_t in[12];
	size_t n;
	int ok;
	size_t hdr, vlen;
};

static const struct tlv_case tlv_cases[] = {
    {"short length", {0x30, 0x03, 1, 2, 3}, 5, 1, 2, 3},
    {"zero length", {0x05, 0x00}, 2, 1, 2, 0},
    {"value shorter than buffer is fine", {0x02, 0x01, 7, 0xff}, 4, 1, 2, 1},
    {"long form 0x81 0x80", {0x04, 0x81, 0x80}, 3 + 0x80, 1, 3, 0x80},
    {"empty input", {0}, 0, 0, 0, 0},
    {"tag only", {0x30}, 1, 0, 0, 0},
    {"value past the end", {0x30, 0x03, 1, 2}, 4, 0, 0, 0},
    {"high tag number form", {0x1f, 0x81, 0x00, 0x00}, 4, 0, 0, 0},
    {"high tag number form, context class", {0xbf, 0x01, 0x00}, 3, 0, 0, 0},
    {"indefinite length", {0x30, 0x80, 0x00, 0x00}, 4, 0, 0, 0},
    {"0x81 with a value below 0x80", {0x30, 0x81, 0x03, 1, 2, 3}, 6, 0, 0, 0},
    {"0x81 0x7f", {0x30, 0x81, 0x7f}, 3 + 0x7f, 0, 0, 0},
    {"leading zero length byte", {0x30, 0x82, 0x00, 0x85}, 4 + 0x85, 0, 0, 0},
    {"leading zero length byte, short value", {0x30, 0x82, 0x00, 0x03, 1, 2, 3}, 7, 0, 0, 0},
    {"five length bytes", {0x30, 0x85, 0x01, 0, 0, 0, 0}, 7, 0, 0, 0},
    {"eight length bytes", {0x30, 0x88, 0x01, 0, 0, 0, 0, 0, 0, 0}, 10, 0, 0, 0},
    {"0xff length (reserved)", {0x30, 0xff, 0x01}, 3, 0, 0, 0},
    {"length bytes cut off", {0x30, 0x82, 0x01}, 3, 0, 0, 0},
    {"largest 4-byte length overflows the buffer",
     {0x30, 0x84, 0xff, 0xff, 0xff, 0xff},
     6,
     0,
     0,
     0},
    {"length one past the buffer", {0x30, 0x81, 0x81}, 3 + 0x80, 0, 0, 0},
};

static void tlv_headers_are_strict_der(void **state)
{
	(void)state;
	static uint8_t buf[512];
	for (size_t i = 0; i < sizeof tlv_cases / sizeof tlv_cases[0]; i++) {
		const struct tlv_case *c = &tlv_cases[i];
		memset(buf, 0xee, sizeof buf);
		memcpy(buf, c->in, sizeof c->in);
		uint8_t tag = 0;
		size_t hdr = 99, vlen = 99;
		int rc = cp_der_tlv(buf, c->n, &tag, &hdr, &vlen);
		if (rc != (c->ok ? 0 : -1))
			fail_msg("%s: got %d", c->what, rc);
		if (c->ok) {
			assert_int_equal(tag, c->in[0]);
			assert_int_equal(hdr, c->hdr);
			assert_int_equal(vlen, c->vlen);
		}
	}
	uint8_t tag;
	size_t hdr, vlen;
	assert_int_equal(cp_der_tlv(NULL, 10, &tag, &hdr, &vlen), -1);
}

/* ---- building certificates field by field -------------------------------- */

struct buf {
	uint8_t *p;
	size_t n, cap;
};

static void buf_put(struct buf *b, const void *p, size_t n)
{
	if (b->n + n > b->cap) {
		b->cap = (b->n + n) * 2 + 64;
		b->p = realloc(b->p, b->cap);
		assert_non_null(b->p);
	}
	if (n)
		memcpy(b->p + b->n, p, n);
	b->n += n;
}

/* Appends tag, length (minimal, or one byte longer than minimal when widen) and value. */
static void buf_tlv(struct buf *b, uint8_t tag, const uint8_t *v, size_t n, int widen)
{
	uint8_t hdr[8];
	size_t h = 0, k = 0;
	hdr[h++] = tag;
	for (size_t t = n; t > 0; t >>= 8)
		k++;
	if (n < 0x80 && !widen) {
		hdr[h++] = (uint8_t)n;
	} else {
		if (n < 0x80)
			k = 1; /* 0x81 0x0n: long form for a short length */
		else if (widen)
			k++; /* a leading zero byte */
		hdr[h++] = (uint8_t)(0x80 | k);
		for (size_t i = k; i > 0; i--)
			hdr[h++] = (uint8_t)(i > 4 ? 0 : n >> (8 * (i - 1)));
	}
	buf_put(b, hdr, h);
	buf_put(b, v, n);
}

enum {
	F_VERSION,
	F_SERIAL,
	F_TBS_SIGALG,
	F_ISSUER,
	F_VALIDITY,
	F_SUBJECT,
	F_SPKI,
	F_EXTS,
	F_NTBS,
	F_TBS = F_NTBS,
	F_SIGALG,
	F_SIG,
	F_CERT,
	F_ALL
};

static const char *const field_name[F_ALL] = {
    "version",    "serial", "tbs signature",      "issuer",    "validity",    "subject", "spki",
    "extensions", "tbs",    "signatureAlgorithm", "signature", "certificate",
};

struct field {
	int present;
	uint8_t tag;
	const uint8_t *v;
	size_t n;
};

struct parts {
	struct field f[F_ALL];
};

enum mut_kind { MUT_NONE, MUT_TAG, MUT_WIDEN, MUT_OMIT };

struct mutation {
	int field;
	enum mut_kind kind;
	uint8_t tag;
};

static void take_field(const uint8_t **p, size_t *n, struct field *f)
{
	uint8_t tag;
	size_t hdr, vlen;
	assert_int_equal(cp_der_tlv(*p, *n, &tag, &hdr, &vlen), 0);
	f->present = 1;
	f->tag = tag;
	f->v = *p + hdr;
	f->n = vlen;
	*p += hdr + vlen;
	*n -= hdr + vlen;
}

/* Splits a well-formed certificate into its fields (values borrowed from der). */
static void split_cert(const uint8_t *der, size_t len, struct parts *out)
{
	memset(out, 0, sizeof *out);
	const uint8_t *p = der;
	size_t n = len;
	take_field(&p, &n, &out->f[F_CERT]);
	assert_int_equal(n, 0);
	p = out->f[F_CERT].v;
	n = out->f[F_CERT].n;
	take_field(&p, &n, &out->f[F_TBS]);
	take_field(&p, &n, &out->f[F_SIGALG]);
	take_field(&p, &n, &out->f[F_SIG]);
	assert_int_equal(n, 0);
	p = out->f[F_TBS].v;
	n = out->f[F_TBS].n;
	int first = F_VERSION;
	if (p[0] != 0xa0)
		first = F_SERIAL;
	for (int i = first; i <= F_SPKI; i++)
		take_field(&p, &n, &out->f[i]);
	if (n > 0)
		take_field(&p, &n, &out->f[F_EXTS]);
	assert_int_equal(n, 0);
}

static void put_field(struct buf *b, const struct field *f, const struct mutation *m, int idx)
{
	if (!f->present || (m->field == idx && m->kind == MUT_OMIT))
		return;
	uint8_t tag = (m->field == idx && m->kind == MUT_TAG) ? m->tag : f->tag;
	buf_tlv(b, tag, f->v, f->n, m->field == idx && m->kind == MUT_WIDEN);
}

/* Reassembles a certificate from parts with one mutation; extra bytes go at the end of tbs/cert. */
static uint8_t *build_cert(const struct parts *pt, const struct mutation *m,
                           const uint8_t *tbs_extra, size_t tbs_extra_n, const uint8_t *cert_extra,
                           size_t cert_extra_n, size_t *len)
{
	struct buf tbs = {0}, cert = {0}, out = {0};
	for (int i = 0; i < F_NTBS; i++)
		put_field(&tbs, &pt->f[i], m, i);
	buf_put(&tbs, tbs_extra, tbs_extra_n);
	struct field tf = pt->f[F_TBS];
	tf.v = tbs.p;
	tf.n = tbs.n;
	put_field(&cert, &tf, m, F_TBS);
	put_field(&cert, &pt->f[F_SIGALG], m, F_SIGALG);
	put_field(&cert, &pt->f[F_SIG], m, F_SIG);
	buf_put(&cert, cert_extra, cert_extra_n);
	struct field cf = pt->f[F_CERT];
	cf.v = cert.p;
	cf.n = cert.n;
	put_field(&out, &cf, m, F_CERT);
	free(tbs.p);
	free(cert.p);
	*len = out.n;
	return out.p;
}

static uint8_t *make_cert_der(enum tu_key_type t, size_t *len)
{
	int64_t now = (int64_t)time(NULL);
	EVP_PKEY *key = tu_key(t);
	X509 *x = tu_cert(key, "der.test", NULL, NULL, 0, "DNS:der.test", now - 3600, now + 86400);
	uint8_t *der = tu_der(x, len);
	X509_free(x);
	EVP_PKEY_free(key);
	return der;
}

/* A version 1 certificate: no [0] version field, no extensions. */
static X509 *make_v1_cert(EVP_PKEY *key)
{
	X509 *x = X509_new();
	assert_non_null(x);
	assert_true(X509_set_version(x, X509_VERSION_1));
	assert_true(ASN1_INTEGER_set(X509_get_serialNumber(x), 7));
	X509_NAME *name = X509_get_subject_name(x);
	assert_true(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	                                       (const unsigned char *)"v1.test", -1, -1, 0));
	assert_true(X509_set_issuer_name(x, name));
	time_t now = time(NULL);
	assert_non_null(ASN1_TIME_set(X509_getm_notBefore(x), now - 3600));
	assert_non_null(ASN1_TIME_set(X509_getm_notAfter(x), now + 86400));
	assert_true(X509_set_pubkey(x, key));
	assert_true(X509_sign(x, key, EVP_sha256()) > 0);
	return x;
}

/* ---- views against OpenSSL ---------------------------------------------- */

static void assert_slice_is(cp_slice s, const uint8_t *want, int want_len, const char *what)
{
	assert_true(want_len > 0);
	if (s.n != (size_t)want_len || memcmp(s.p, want, s.n) != 0)
		fail_msg("%s slice differs from OpenSSL (%zu vs %d bytes)", what, s.n, want_len);
}

static void check_view_against_openssl(const uint8_t *der, size_t len, const char *what)
{
	cp_cert_view v;
	if (cp_der_cert_view(der, len, &v) != CERTPIN_OK)
		fail_msg("%s: view failed", what);
	assert_ptr_equal(v.whole.p, der);
	assert_int_equal(v.whole.n, len);

	const unsigned char *p = der;
	X509 *x = d2i_X509(NULL, &p, (long)len);
	assert_non_null(x);
	assert_ptr_equal(p, der + len);

	unsigned char *enc = NULL;
	int n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &enc);
	assert_slice_is(v.spki, enc, n, "spki");
	OPENSSL_free(enc);
	enc = NULL;
	n = i2d_X509_NAME(X509_get_subject_name(x), &enc);
	assert_slice_is(v.subject, enc, n, "subject");
	OPENSSL_free(enc);
	enc = NULL;
	n = i2d_X509_NAME(X509_get_issuer_name(x), &enc);
	assert_slice_is(v.issuer, enc, n, "issuer");
	OPENSSL_free(enc);
	enc = NULL;
	n = i2d_re_X509_tbs(x, &enc);
	assert_slice_is(v.tbs, enc, n, "tbs");
	OPENSSL_free(enc);
	X509_free(x);
}

static void views_of_generated_certs_equal_openssl(void **state)
{
	(void)state;
	const enum tu_key_type types[] = {TU_RSA2048, TU_P256,    TU_P384,
	                                  TU_P521,    TU_ED25519, TU_ED448};
	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
		size_t len;
		uint8_t *der = make_cert_der(types[i], &len);
		check_view_against_openssl(der, len, "generated");
		free(der);
	}
}

static void views_of_trustkit_certs_equal_openssl(void **state)
{
	(void)state;
	static const char *const files[] = {
	    "www.globalsign.com.der",
	    "Corporation_Service_Company_RSA_OV_SSL_CA.der",
	    "www.good.com.der",
	    "www.cloudflare.com.der",
	    "GeoTrust_Primary_CA_G2_ECC.der",
	};
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
		char rel[256];
		snprintf(rel, sizeof rel, "trustkit-vectors/%s", files[i]);
		size_t len;
		uint8_t *der = tu_read_file(tu_testdata(rel), &len);
		check_view_against_openssl(der, len, files[i]);
		free(der);
	}
}

static void v1_certificate_without_version_is_fine(void **state)
{
	(void)state;
	EVP_PKEY *key = tu_key(TU_P256);
	X509 *x = make_v1_cert(key);
	size_t len;
	uint8_t *der = tu_der(x, &len);
	struct parts pt;
	split_cert(der, len, &pt);
	assert_false(pt.f[F_VERSION].present);
	assert_false(pt.f[F_EXTS].present);
	check_view_against_openssl(der, len, "v1");
	free(der);
	X509_free(x);
	EVP_PKEY_free(key);
}

/* ---- malformations ------------------------------------------------------ */

static void every_prefix_of_a_cert_is_refused(void **state)
{
	(void)state;
	size_t len;
	uint8_t *der = make_cert_der(TU_P256, &len);
	for (size_t cut = 0; cut < len; cut++) {
		/* an exact-size copy, so ASan catches any read past the prefix */
		uint8_t *p = malloc(cut ? cut : 1);
		assert_non_null(p);
		memcpy(p, der, cut);
		cp_cert_view v;
		memset(&v, 0x5a, sizeof v);
		if (cp_der_cert_view(p, cut, &v) != CERTPIN_E_DER)
			fail_msg("prefix of %zu of %zu bytes accepted", cut, len);
		assert_null(v.spki.p); /* nothing half-filled is left */
		certpin_pin pin;
		assert_int_equal(certpin_pin_spki_from_cert_der(p, cut, &pin), CERTPIN_E_DER);
		free(p);
	}
	free(der);
}

static void trailing_bytes_after_the_certificate_are_refused(void **state)
{
	(void)state;
	size_t len;
	uint8_t *der = make_cert_der(TU_P256, &len);
	uint8_t *longer = malloc(len + 64);
	assert_non_null(longer);
	memcpy(longer, der, len);
	memset(longer + len, 0, 64);
	cp_cert_view v;
	assert_int_equal(cp_der_cert_view(longer, len + 1, &v), CERTPIN_E_DER);
	assert_int_equal(cp_der_cert_view(longer, len + 2, &v), CERTPIN_E_DER);
	assert_int_equal(cp_der_cert_view(longer, len + 64, &v), CERTPIN_E_DER);
	/* a second certificate glued on is trailing data too */
	memcpy(longer, der, len);
	uint8_t *two = malloc(2 * len);
	assert_non_null(two);
	memcpy(two, der, len);
	memcpy(two + len, der, len);
	assert_int_equal(cp_der_cert_view(two, 2 * len, &v), CERTPIN_E_DER);
	free(two);
	free(longer);
	free(der);
}

static void trailing_data_inside_the_certificate_is_refused(void **state)
{
	(void)state;
	size_t len, n;
	uint8_t *der = make_cert_der(TU_P256, &len);
	struct parts pt;
	split_cert(der, len, &pt);
	const struct mutation none = {-1, MUT_NONE, 0};
	static const uint8_t tlv[] = {0x05, 0x00};
	static const uint8_t junk[] = {0x00};
	cp_cert_view v;

	uint8_t *same = build_cert(&pt, &none, NULL, 0, NULL, 0, &n);
	assert_int_equal(n, len);
	assert_memory_equal(same, der, len);
	free(same);

	/* an extra element after the signature, inside the outer SEQUENCE */
	uint8_t *c = build_cert(&pt, &none, NULL, 0, tlv, sizeof tlv, &n);
	assert_int_equal(cp_der_cert_view(c, n, &v), CERTPIN_E_DER);
	free(c);
	/* a byte that is no TLV after the extensions, inside tbs */
	c = build_cert(&pt, &none, junk, sizeof junk, NULL, 0, &n);
	assert_int_equal(cp_der_cert_view(c, n, &v), CERTPIN_E_DER);
	free(c);
	free(der);
}

static void wrong_tag_for_each_field_is_refused(void **state)
{
	(void)state;
	size_t len;
	uint8_t *der = make_cert_der(TU_RSA2048, &len);
	struct parts pt;
	split_cert(der, len, &pt);
	for (int f = 0; f < F_ALL; f++) {
		if (f == F_EXTS)
			continue; /* optional trailing fields are not interpreted */
		uint8_t wrong[3];
		switch (pt.f[f].tag) {
		case 0x30:
			wrong[0] = 0x31; /* SET */
			wrong[1] = 0xa0;
			wrong[2] = 0x10; /* SEQUENCE without the constructed bit */
			break;
		case 0x02:
			wrong[0] = 0x04;
			wrong[1] = 0x0a; /* ENUMERATED */
			wrong[2] = 0x82;
			break;
		case 0x03:
			wrong[0] = 0x04;
			wrong[1] = 0x23; /* constructed BIT STRING (BER) */
			wrong[2] = 0x30;
			break;
		case 0xa0:
			wrong[0] = 0xa1;
			wrong[1] = 0x80; /* [0] primitive */
			wrong[2] = 0x30;
			break;
		default:
			fail_msg("unexpected tag 0x%02x", pt.f[f].tag);
		}
		for (int w = 0; w < 3; w++) {
			struct mutation m = {f, MUT_TAG, wrong[w]};
			size_t n;
			uint8_t *c = build_cert(&pt, &m, NULL, 0, NULL, 0, &n);
			cp_cert_view v;
			if (cp_der_cert_view(c, n, &v) != CERTPIN_E_DER)
				fail_msg("%s with tag 0x%02x accepted", field_name[f], wrong[w]);
			free(c);
		}
	}
	free(der);
}

static void non_minimal_length_in_each_field_is_refused(void **state)
{
	(void)state;
	size_t len;
	uint8_t *der = make_cert_der(TU_RSA2048, &len);
	struct parts pt;
	split_cert(der, len, &pt);
	for (int f = 0; f < F_ALL; f++) {
		struct mutation m = {f, MUT_WIDEN, 0};
		size_t n;
		uint8_t *c = build_cert(&pt, &m, NULL, 0, NULL, 0, &n);
		assert_int_not_equal(n, len); /* the mutation happened */
		cp_cert_view v;
		if (cp_der_cert_view(c, n, &v) != CERTPIN_E_DER)
			fail_msg("non-minimal length of %s accepted", field_name[f]);
		free(c);
	}
	free(der);
}

/* Re-encodes DER, giving the TLV number `target` (pre-order) a non-minimal length. */
static void widen_one(const uint8_t *p, size_t n, int target, int *counter, struct buf *out)
{
	while (n > 0) {
		uint8_t tag;
		size_t hdr, vlen;
		assert_int_equal(cp_der_tlv(p, n, &tag, &hdr, &vlen), 0);
		int idx = (*counter)++;
		if (tag & 0x20) {
			struct buf inner = {0};
			widen_one(p + hdr, vlen, target, counter, &inner);
			buf_tlv(out, tag, inner.p, inner.n, idx == target);
			free(inner.p);
		} else {
			buf_tlv(out, tag, p + hdr, vlen, idx == target);
		}
		p += hdr + vlen;
		n -= hdr + vlen;
	}
}

static int same_encoding(cp_slice s, int n, unsigned char *enc)
{
	int same = n > 0 && (size_t)n == s.n && memcmp(enc, s.p, s.n) == 0;
	OPENSSL_free(enc);
	return same;
}

/*
 * OpenSSL accepts BER lengths almost anywhere. Wherever the walk accepts one
 * too (inside fields it does not interpret), its slices must still be what
 * OpenSSL re-encodes, so pins agree between the DER and the OpenSSL paths.
 */
static void non_minimal_length_anywhere_is_refused_or_harmless(void **state)
{
	(void)state;
	const enum tu_key_type types[] = {TU_RSA2048, TU_P256, TU_ED25519};
	int refused = 0, compared = 0;
	for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
		size_t len;
		uint8_t *der = make_cert_der(types[t], &len);
		for (int target = 0;; target++) {
			struct buf b = {0};
			int counter = 0;
			widen_one(der, len, target, &counter, &b);
			if (target >= counter) {
				free(b.p);
				break;
			}
			cp_cert_view v;
			if (cp_der_cert_view(b.p, b.n, &v) != CERTPIN_OK) {
				refused++;
				free(b.p);
				continue;
			}
			const unsigned char *q = b.p;
			X509 *x = d2i_X509(NULL, &q, (long)b.n);
			if (x != NULL && q == b.p + b.n) {
				unsigned char *enc = NULL;
				int n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &enc);
				if (!same_encoding(v.spki, n, enc))
					fail_msg("TLV %d widened: spki differs from OpenSSL",
					         target);
				enc = NULL;
				n = i2d_X509_NAME(X509_get_subject_name(x), &enc);
				if (!same_encoding(v.subject, n, enc))
					fail_msg("TLV %d widened: subject differs from OpenSSL",
					         target);
				compared++;
			}
			X509_free(x);
			free(b.p);
		}
		free(der);
	}
	assert_true(refused > 10);
	assert_true(compared > 10);
}

static void missing_mandatory_fields_are_refused(void **state)
{
	(void)state;
	size_t len;
	uint8_t *der = make_cert_der(TU_P256, &len);
	struct parts pt;
	split_cert(der, len, &pt);
	for (int f = 0; f < F_CERT; f++) {
		struct mutation m = {f, MUT_OMIT, 0};
		size_t n;
		uint8_t *c = build_cert(&pt, &m, NULL, 0, NULL, 0, &n);
		cp_cert_view v;
		certpin_err rc = cp_der_cert_view(c, n, &v);
		/* a v3 cert without its version still walks (OpenSSL reads it as v1) */
		certpin_err want = (f == F_VERSION || f == F_EXTS) ? CERTPIN_OK : CERTPIN_E_DER;
		if (rc != want)
			fail_msg("without %s: got %d", field_name[f], (int)rc);
		free(c);
	}
	free(der);
}

static void indefinite_and_high_tag_forms_are_refused(void **state)
{
	(void)state;
	size_t len;
	uint8_t *der = make_cert_der(TU_P256, &len);
	struct parts pt;
	split_cert(der, len, &pt);
	cp_cert_view v;

	/* BER indefinite length on the outer SEQUENCE: 30 80 <content> 00 00 */
	struct buf b = {0};
	static const uint8_t ind[] = {0x30, 0x80}, eoc[] = {0x00, 0x00};
	buf_put(&b, ind, 2);
	buf_put(&b, pt.f[F_CERT].v, pt.f[F_CERT].n);
	buf_put(&b, eoc, 2);
	assert_int_equal(cp_der_cert_view(b.p, b.n, &v), CERTPIN_E_DER);
	free(b.p);

	/* indefinite length on the subject, inside an otherwise definite cert */
	uint8_t *c = malloc(len);
	assert_non_null(c);
	memcpy(c, der, len);
	size_t off = (size_t)(pt.f[F_SUBJECT].v - der);
	/* the subject's header is 30 LL; make it 30 80 (the encoding is now wrong) */
	assert_true(pt.f[F_SUBJECT].n < 0x80);
	c[off - 1] = 0x80;
	assert_int_equal(cp_der_cert_view(c, len, &v), CERTPIN_E_DER);

	/* high-tag-number form in place of the outer tag */
	memcpy(c, der, len);
	c[0] = 0x3f;
	assert_int_equal(cp_der_cert_view(c, len, &v), CERTPIN_E_DER);
	free(c);
	free(der);
}

static void overflowing_lengths_are_refused(void **state)
{
	(void)state;
	static const uint8_t cases[][12] = {
	    {0x30, 0x84, 0xff, 0xff, 0xff, 0xff, 0x30, 0x00},
	    {0x30, 0x84, 0x7f, 0xff, 0xff, 0xf9, 0x30, 0x00},
	    {0x30, 0x88, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x30, 0x00},
	    {0x30, 0x88, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xf6, 0x30, 0x00},
	    {0x30, 0x0a, 0x30, 0x84, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00},
	    {0x30, 0x0a, 0x30, 0x08, 0x02, 0x84, 0xff, 0xff, 0xff, 0xfc, 0x00, 0x00},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		cp_cert_view v;
		if (cp_der_cert_view(cases[i], sizeof cases[i], &v) != CERTPIN_E_DER)
			fail_msg("case %zu accepted", i);
	}
}

static void version_field_must_hold_one_integer(void **state)
{
	(void)state;
	size_t len;
	uint8_t *der = make_cert_der(TU_P256, &len);
	struct parts pt;
	split_cert(der, len, &pt);
	static const uint8_t not_int[] = {0x04, 0x01, 0x02};
	static const uint8_t two_ints[] = {0x02, 0x01, 0x02, 0x02, 0x01, 0x02};
	static const uint8_t empty[] = {0};
	const struct {
		const uint8_t *v;
		size_t n;
	} bad[] = {{not_int, sizeof not_int}, {two_ints, sizeof two_ints}, {empty, 0}};
	const struct mutation none = {-1, MUT_NONE, 0};
	for (size_t i = 0; i < 3; i++) {
		struct parts q = pt;
		q.f[F_VERSION].v = bad[i].v;
		q.f[F_VERSION].n = bad[i].n;
		size_t n;
		uint8_t *c = build_cert(&q, &none, NULL, 0, NULL, 0, &n);
		cp_cert_view v;
		assert_int_equal(cp_der_cert_view(c, n, &v), CERTPIN_E_DER);
		free(c);
	}
	free(der);
}

/* ---- SubjectPublicKeyInfo shape ----------------------------------------- */

static void spki_of_every_key_type_passes_the_check(void **state)
{
	(void)state;
	const enum tu_key_type types[] = {TU_RSA2048, TU_P256,    TU_P384,
	                                  TU_P521,    TU_ED25519, TU_ED448};
	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
		EVP_PKEY *key = tu_key(types[i]);
		size_t n;
		uint8_t *spki = tu_spki_der(key, &n);
		assert_int_equal(cp_der_spki_check(spki, n), 0);
		for (size_t cut = 0; cut < n; cut++)
			assert_int_equal(cp_der_spki_check(spki, cut), -1);
		free(spki);
		EVP_PKEY_free(key);
	}
}

static void malformed_spki_shapes_are_refused(void **state)
{
	(void)state;
	/* Ed25519-like: 30 2a 30 05 06 03 2b 65 70 03 21 00 <32 bytes> */
#define KEY32                                                                                      \
	0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24,  \
	    25, 26, 27, 28, 29, 30, 31
	static const uint8_t good[] = {0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b,
	                               0x65, 0x70, 0x03, 0x21, 0x00, KEY32};
	static const uint8_t good_null[] = {0x30, 0x2c, 0x30, 0x07, 0x06, 0x03, 0x2b, 0x65,
	                                    0x70, 0x05, 0x00, 0x03, 0x21, 0x00, KEY32};
	static const uint8_t good_bits[] = {0x30, 0x0c, 0x30, 0x05, 0x06, 0x03, 0x2b,
	                                    0x65, 0x70, 0x03, 0x03, 0x04, 0xff, 0xf0};
	struct {
		const char *what;
		uint8_t b[64];
		size_t n;
	} bad[] = {
	    {"algorithm is not an OID",
	     {0x30, 0x2a, 0x30, 0x05, 0x04, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00, KEY32},
	     44},
	    {"empty OID", {0x30, 0x27, 0x30, 0x02, 0x06, 0x00, 0x03, 0x21, 0x00, KEY32}, 41},
	    {"empty AlgorithmIdentifier", {0x30, 0x25, 0x30, 0x00, 0x03, 0x21, 0x00, KEY32}, 39},
	    {"BOOLEAN parameters",
	     {0x30, 0x2d, 0x30, 0x08, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x01, 0x01, 0xff, 0x03, 0x21,
	      0x00, KEY32},
	     47},
	    {"NULL with content",
	     {0x30, 0x2d, 0x30, 0x08, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x05, 0x01, 0x00, 0x03, 0x21,
	      0x00, KEY32},
	     47},
	    {"two parameters",
	     {0x30, 0x2e, 0x30, 0x09, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x05, 0x00, 0x05, 0x00, 0x03,
	      0x21, 0x00, KEY32},
	     48},
	    {"key is an OCTET STRING",
	     {0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x21, 0x00, KEY32},
	     44},
	    {"unused bits over 7",
	     {0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x08, KEY32},
	     44},
	    {"unused bits not zero",
	     {0x30, 0x0c, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x03, 0x04, 0xff, 0xf8},
	     14},
	    {"empty BIT STRING",
	     {0x30, 0x09, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x00},
	     11},
	    {"unused bits in an empty BIT STRING",
	     {0x30, 0x0a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x01, 0x01},
	     12},
	    {"element after the key",
	     {0x30, 0x2c, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00, KEY32, 0x05,
	      0x00},
	     46},
	    {"key missing", {0x30, 0x07, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70}, 9},
	    {"SET instead of SEQUENCE",
	     {0x31, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00, KEY32},
	     44},
	};
	assert_int_equal(cp_der_spki_check(good, sizeof good), 0);
	assert_int_equal(cp_der_spki_check(good_null, sizeof good_null), 0);
	assert_int_equal(cp_der_spki_check(good_bits, sizeof good_bits), 0);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (cp_der_spki_check(bad[i].b, bad[i].n) != -1)
			fail_msg("%s: accepted", bad[i].what);
		certpin_pin pin;
		assert_int_equal(certpin_pin_spki_from_spki_der(bad[i].b, bad[i].n, &pin),
		                 CERTPIN_E_DER);
	}
#undef KEY32
}

/* ---- Name to text ------------------------------------------------------- */

static uint8_t *name_der(X509_NAME *name, size_t *len)
{
	unsigned char *p = NULL;
	int n = i2d_X509_NAME(name, &p);
	assert_true(n > 0);
	uint8_t *out = malloc((size_t)n);
	assert_non_null(out);
	memcpy(out, p, (size_t)n);
	OPENSSL_free(p);
	*len = (size_t)n;
	return out;
}

static void name_text_is_rfc2253_with_raw_utf8(void **state)
{
	(void)state;
	X509_NAME *name = X509_NAME_new();
	assert_non_null(name);
	assert_true(X509_NAME_add_entry_by_txt(name, "C", MBSTRING_ASC, (const unsigned char *)"DE",
	                                       -1, -1, 0));
	assert_true(X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
	                                       (const unsigned char *)"Example, Inc", -1, -1, 0));
	assert_true(X509_NAME_add_entry_by_txt(
	    name, "CN", MBSTRING_UTF8, (const unsigned char *)"Z\xc3\xbcrich CA", -1, -1, 0));
	size_t len;
	uint8_t *der = name_der(name, &len);
	char buf[128];
	assert_int_equal(cp_name_to_text(der, len, buf, sizeof buf), CERTPIN_OK);
	assert_string_equal(buf, "CN=Z\xc3\xbcrich CA,O=Example\\, Inc,C=DE");

	/* too small: truncated, NUL-terminated, never in the middle of a UTF-8 sequence */
	assert_int_equal(cp_name_to_text(der, len, buf, 6), CERTPIN_E_BUFFER);
	assert_string_equal(buf, "CN=Z");
	assert_int_equal(cp_name_to_text(der, len, buf, 7), CERTPIN_E_BUFFER);
	assert_string_equal(buf, "CN=Z\xc3\xbc");
	assert_int_equal(cp_name_to_text(der, len, buf, 1), CERTPIN_E_BUFFER);
	assert_string_equal(buf, "");
	size_t full = strlen("CN=Z\xc3\xbcrich CA,O=Example\\, Inc,C=DE");
	assert_int_equal(cp_name_to_text(der, len, buf, full), CERTPIN_E_BUFFER);
	assert_int_equal(cp_name_to_text(der, len, buf, full + 1), CERTPIN_OK);

	/* trailing bytes, truncation, garbage */
	uint8_t *longer = malloc(len + 1);
	assert_non_null(longer);
	memcpy(longer, der, len);
	longer[len] = 0;
	assert_int_equal(cp_name_to_text(longer, len + 1, buf, sizeof buf), CERTPIN_E_DER);
	assert_int_equal(cp_name_to_text(der, len - 1, buf, sizeof buf), CERTPIN_E_DER);
	static const uint8_t junk[] = {0x02, 0x01, 0x00};
	assert_int_equal(cp_name_to_text(junk, sizeof junk, buf, sizeof buf), CERTPIN_E_DER);
	assert_int_equal(cp_name_to_text(der, len, buf, 0), CERTPIN_E_INVALID_ARG);
	free(longer);
	free(der);
	X509_NAME_free(name);

	static const uint8_t empty[] = {0x30, 0x00};
	assert_int_equal(cp_name_to_text(empty, sizeof empty, buf, sizeof buf), CERTPIN_OK);
	assert_string_equal(buf, "");
}

static void name_text_of_a_cert_subject(void **state)
{
	(void)state;
	size_t len;
	uint8_t *der = make_cert_der(TU_P256, &len);
	cp_cert_view v;
	assert_int_equal(cp_der_cert_view(der, len, &v), CERTPIN_OK);
	char buf[64];
	assert_int_equal(cp_name_to_text(v.subject.p, v.subject.n, buf, sizeof buf), CERTPIN_OK);
	assert_string_equal(buf, "CN=der.test");
	free(der);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(tlv_headers_are_strict_der),
	    cmocka_unit_test(views_of_generated_certs_equal_openssl),
	    cmocka_unit_test(views_of_trustkit_certs_equal_openssl),
	    cmocka_unit_test(v1_certificate_without_version_is_fine),
	    cmocka_unit_test(every_prefix_of_a_cert_is_refused),
	    cmocka_unit_test(trailing_bytes_after_the_certificate_are_refused),
	    cmocka_unit_test(trailing_data_inside_the_certificate_is_refused),
	    cmocka_unit_test(wrong_tag_for_each_field_is_refused),
	    cmocka_unit_test(non_minimal_length_in_each_field_is_refused),
	    cmocka_unit_test(non_minimal_length_anywhere_is_refused_or_harmless),
	    cmocka_unit_test(missing_mandatory_fields_are_refused),
	    cmocka_unit_test(indefinite_and_high_tag_forms_are_refused),
	    cmocka_unit_test(overflowing_lengths_are_refused),
	    cmocka_unit_test(version_field_must_hold_one_integer),
	    cmocka_unit_test(spki_of_every_key_type_passes_the_check),
	    cmocka_unit_test(malformed_spki_shapes_are_refused),
	    cmocka_unit_test(name_text_is_rfc2253_with_raw_utf8),
	    cmocka_unit_test(name_text_of_a_cert_subject),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
