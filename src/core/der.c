/*
 * Strict DER walking: locates the parts of a certificate (notably the
 * SubjectPublicKeyInfo) without building an X509 object. d2i_X509 costs
 * about 1.5 M instructions; this walk reads a few dozen header bytes and
 * allocates nothing.
 *
 * Strictness is deliberate: pins are hashes of the raw bytes, so a slice is
 * only usable if it is exactly what a DER encoder (and OpenSSL's
 * i2d_X509_PUBKEY / i2d_X509_NAME) would produce. Anything that is not plain
 * DER is refused rather than guessed at (fail closed).
 */
#include <string.h>

#include "internal.h"

_Static_assert(sizeof(size_t) >= 4, "DER lengths of up to 4 bytes must fit in size_t");

enum {
	TAG_INTEGER = 0x02,
	TAG_BIT_STRING = 0x03,
	TAG_NULL = 0x05,
	TAG_OID = 0x06,
	TAG_SEQUENCE = 0x30,
	TAG_CTX0_CONS = 0xa0, /* [0] EXPLICIT, constructed */
};

/*
 * The TLV reader of cp_der_tlv without the argument checks, inlined into the
 * walks below: a certificate takes about 19 reads, and as calls they cost
 * as much as the rest of the walk. Needs in != NULL when n != 0. The tag
 * must be `want`, or any single-byte tag when want is 0 (a `want` of the
 * high-tag-number form never matches; for the constant tags of the walks,
 * the test folds away). Lengths of one and two long-form bytes (every
 * certificate part below 64 KiB) are read without the loop, with the same
 * checks as for k bytes.
 */
static inline __attribute__((always_inline)) int tlv(const uint8_t *in, size_t n, uint8_t want,
                                                     size_t *hdr, size_t *vlen)
{
	if (n < 2)
		return -1;
	if (want != 0) {
		if (in[0] != want || (want & 0x1f) == 0x1f)
			return -1;
	} else if ((in[0] & 0x1f) == 0x1f) {
		return -1; /* high-tag-number form */
	}

	size_t h, v;
	uint8_t l0 = in[1];
	if (l0 < 0x80) {
		h = 2;
		v = l0;
	} else if (l0 == 0x81) {
		if (n < 3 || in[2] < 0x80)
			return -1; /* cut off, or long form for a length that fits the short form */
		h = 3;
		v = in[2];
	} else if (l0 == 0x82) {
		if (n < 4 || in[2] == 0)
			return -1; /* cut off, or a leading zero length byte: not minimal */
		h = 4;
		v = (size_t)in[2] << 8 | in[3];
	} else {
		size_t k = l0 & 0x7fu;
		if (k == 0)
			return -1; /* indefinite length (BER only) */
		if (k > 4)
			return -1; /* no certificate part is 4 GiB; also keeps v in size_t */
		if (n - 2 < k)
			return -1;
		if (in[2] == 0)
			return -1; /* leading zero length byte: not minimal */
		v = 0;
		for (size_t i = 0; i < k; i++)
			v = (v << 8) | in[2 + i];
		if (v < 0x80)
			return -1; /* long form for a length that fits the short form */
		h = 2 + k;
	}
	if (v > n - h)
		return -1;
	*hdr = h;
	*vlen = v;
	return 0;
}

int cp_der_tlv(const uint8_t *in, size_t n, uint8_t *tag, size_t *hdr, size_t *vlen)
{
	if (in == NULL || tag == NULL || hdr == NULL || vlen == NULL)
		return -1;
	if (tlv(in, n, 0, hdr, vlen) != 0)
		return -1;
	*tag = in[0];
	return 0;
}

/*
 * Takes the next TLV off the front of *c. It must carry tag `want` (any tag
 * when want is 0). whole gets tag+length+value, val the value alone (either
 * may be NULL).
 */
static inline __attribute__((always_inline)) int take(cp_slice *c, uint8_t want, cp_slice *whole,
                                                      cp_slice *val)
{
	size_t hdr, vlen;
	if (tlv(c->p, c->n, want, &hdr, &vlen) != 0)
		return -1;
	if (whole != NULL) {
		whole->p = c->p;
		whole->n = hdr + vlen;
	}
	if (val != NULL) {
		val->p = c->p + hdr;
		val->n = vlen;
	}
	c->p += hdr + vlen;
	c->n -= hdr + vlen;
	return 0;
}

static int peek_tag(const cp_slice *c, uint8_t *tag)
{
	if (c->n == 0)
		return -1;
	*tag = c->p[0];
	return 0;
}

/*
 * SubjectPublicKeyInfo ::= SEQUENCE { algorithm AlgorithmIdentifier,
 * subjectPublicKey BIT STRING }, AlgorithmIdentifier ::= SEQUENCE { OID,
 * parameters ANY OPTIONAL }. Parameters in real keys are absent (Ed25519),
 * NULL (RSA), an OID (named EC curve) or a SEQUENCE (RSA-PSS, DSA, explicit
 * EC, DH); other forms are refused so that the raw bytes always equal what
 * OpenSSL re-encodes for the same key.
 */
static int spki_check(cp_slice spki)
{
	cp_slice c = spki, body, alg, bits, rest;
	if (take(&c, TAG_SEQUENCE, NULL, &body) != 0 || c.n != 0)
		return -1;
	if (take(&body, TAG_SEQUENCE, NULL, &alg) != 0)
		return -1;
	if (take(&body, TAG_BIT_STRING, NULL, &bits) != 0 || body.n != 0)
		return -1;

	cp_slice oid;
	if (take(&alg, TAG_OID, NULL, &oid) != 0 || oid.n == 0)
		return -1;
	if (alg.n != 0) {
		uint8_t tag;
		cp_slice param;
		rest = alg;
		if (take(&rest, 0, NULL, &param) != 0 || rest.n != 0)
			return -1;
		tag = alg.p[0];
		switch (tag) {
		case TAG_NULL:
			if (param.n != 0)
				return -1;
			break;
		case TAG_OID:
			if (param.n == 0)
				return -1;
			break;
		case TAG_SEQUENCE:
			break;
		default:
			return -1;
		}
	}

	/* BIT STRING: unused-bit count 0..7, zero when empty, unused bits zero */
	if (bits.n == 0)
		return -1;
	uint8_t unused = bits.p[0];
	if (unused > 7 || (bits.n == 1 && unused != 0))
		return -1;
	if (unused != 0 && (bits.p[bits.n - 1] & ((1u << unused) - 1u)) != 0)
		return -1;
	return 0;
}

int cp_der_spki_check(const uint8_t *der, size_t len)
{
	if (der == NULL)
		return -1;
	cp_slice s = {der, len};
	return spki_check(s);
}

certpin_err cp_der_cert_view(const uint8_t *der, size_t len, cp_cert_view *out)
{
	if (out == NULL)
		return CERTPIN_E_DER;
	memset(out, 0, sizeof *out);
	if (der == NULL)
		return CERTPIN_E_DER;

	cp_cert_view v;
	cp_slice c = {der, len}, cert, tbs;
	uint8_t tag;

	/* Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue } */
	if (take(&c, TAG_SEQUENCE, &v.whole, &cert) != 0 || c.n != 0)
		return CERTPIN_E_DER;
	if (take(&cert, TAG_SEQUENCE, &v.tbs, &tbs) != 0)
		return CERTPIN_E_DER;
	if (take(&cert, TAG_SEQUENCE, NULL, NULL) != 0)
		return CERTPIN_E_DER;
	if (take(&cert, TAG_BIT_STRING, NULL, NULL) != 0 || cert.n != 0)
		return CERTPIN_E_DER;

	/* version [0] EXPLICIT Version DEFAULT v1: when present, exactly one INTEGER */
	if (peek_tag(&tbs, &tag) != 0)
		return CERTPIN_E_DER;
	if (tag == TAG_CTX0_CONS) {
		cp_slice ver;
		if (take(&tbs, TAG_CTX0_CONS, NULL, &ver) != 0)
			return CERTPIN_E_DER;
		if (take(&ver, TAG_INTEGER, NULL, NULL) != 0 || ver.n != 0)
			return CERTPIN_E_DER;
	}
	if (take(&tbs, TAG_INTEGER, NULL, NULL) != 0) /* serialNumber */
		return CERTPIN_E_DER;
	if (take(&tbs, TAG_SEQUENCE, NULL, NULL) != 0) /* signature */
		return CERTPIN_E_DER;
	if (take(&tbs, TAG_SEQUENCE, &v.issuer, NULL) != 0)
		return CERTPIN_E_DER;
	if (take(&tbs, TAG_SEQUENCE, NULL, NULL) != 0) /* validity */
		return CERTPIN_E_DER;
	if (take(&tbs, TAG_SEQUENCE, &v.subject, NULL) != 0)
		return CERTPIN_E_DER;
	if (take(&tbs, TAG_SEQUENCE, &v.spki, NULL) != 0)
		return CERTPIN_E_DER;
	if (spki_check(v.spki) != 0)
		return CERTPIN_E_DER;
	/* issuerUniqueID, subjectUniqueID, extensions: not read, but well framed */
	while (tbs.n != 0)
		if (take(&tbs, 0, NULL, NULL) != 0)
			return CERTPIN_E_DER;

	*out = v;
	return CERTPIN_OK;
}
