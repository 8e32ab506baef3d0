/*
 * Certificates, public keys, private keys and CSRs from PEM or DER on
 * mbedTLS (the list, limits and entry points are in objects.c).
 *
 * What the mbedTLS build reads: PEM blocks CERTIFICATE, PUBLIC KEY, PRIVATE
 * KEY, RSA/EC PRIVATE KEY, CERTIFICATE REQUEST (and NEW ...), and the same
 * as plain DER. Not read, with an error saying so: encrypted private keys
 * and PKCS#12 (mbedTLS has no PKCS#12 reader; convert them with the OpenSSL
 * build's `certpin pin`, or give the certificate or public key instead).
 * Private keys are reduced to their SubjectPublicKeyInfo at once and freed
 * (mbedtls_pk_free wipes them); every buffer that held one is wiped.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/base64.h>
#include <mbedtls/md.h>
#include <mbedtls/pk.h>
#include <mbedtls/version.h>
#include <mbedtls/x509_crt.h>
#include <mbedtls/x509_csr.h>

#include "internal.h"
#include "objects.h"

#ifndef MBEDTLS_PRIVATE
#define MBEDTLS_PRIVATE(m) m
#endif

/* ---- object details --------------------------------------------------------- */

static void key_type_text(const mbedtls_pk_context *pk, char *buf, size_t n)
{
	mbedtls_pk_type_t t = mbedtls_pk_get_type(pk);
	if (t == MBEDTLS_PK_RSA || t == MBEDTLS_PK_RSASSA_PSS) {
		snprintf(buf, n, "RSA-%zu", mbedtls_pk_get_bitlen(pk));
	} else if (t == MBEDTLS_PK_ECKEY || t == MBEDTLS_PK_ECDSA || t == MBEDTLS_PK_ECKEY_DH) {
		const mbedtls_ecp_keypair *ec = mbedtls_pk_ec(*pk);
		const char *name = NULL;
		switch (ec != NULL ? ec->MBEDTLS_PRIVATE(grp).id : MBEDTLS_ECP_DP_NONE) {
		case MBEDTLS_ECP_DP_SECP256R1:
			name = "EC-P-256";
			break;
		case MBEDTLS_ECP_DP_SECP384R1:
			name = "EC-P-384";
			break;
		case MBEDTLS_ECP_DP_SECP521R1:
			name = "EC-P-521";
			break;
		default:
			break;
		}
		if (name != NULL)
			cp_strlcpy(buf, name, n);
		else
			snprintf(buf, n, "EC-%zu", mbedtls_pk_get_bitlen(pk));
	} else {
		cp_strlcpy(buf, "unknown", n);
	}
}

/* The SPKI pin of a parsed key (mbedtls_pk_write_pubkey_der writes at the end). */
static certpin_err spki_pin_of(cp_reader *r, mbedtls_pk_context *pk, certpin_pin *pin)
{
	unsigned char der[2600];
	int n = mbedtls_pk_write_pubkey_der(pk, der, sizeof der);
	if (n <= 0)
		return cp_obj_fail(r, CERTPIN_E_KEY_FILE, "cannot encode the public key");
	if (certpin_pin_spki_from_spki_der(der + sizeof der - (size_t)n, (size_t)n, pin) != CERTPIN_OK)
		return cp_obj_fail(r, CERTPIN_E_KEY_FILE, "public key is not valid DER");
	return CERTPIN_OK;
}

static certpin_err add_key(cp_reader *r, certpin_object_kind kind, mbedtls_pk_context *pk)
{
	cp_obj *o = NULL;
	certpin_err rc = cp_obj_list_push(r, &o);
	if (rc != CERTPIN_OK)
		return rc;
	o->pub.kind = kind;
	o->pub.line = r->line;
	key_type_text(pk, o->key_type, sizeof o->key_type);
	rc = spki_pin_of(r, pk, &o->pub.spki_pin);
	if (rc != CERTPIN_OK)
		cp_obj_list_pop(r->list);
	return rc;
}

static char *name_text(const mbedtls_x509_name *nm)
{
	char buf[1024];
	int l = mbedtls_x509_dn_gets(buf, sizeof buf, nm);
	if (l < 0)
		l = 0;
	buf[l] = '\0';
	for (int i = 0; i < l; i++)
		if ((unsigned char)buf[i] < 0x20 || (unsigned char)buf[i] == 0x7f)
			buf[i] = '?';
	return strdup(buf);
}

/* Issued by itself: issuer == subject and the signature verifies with its key. */
static int self_signed(const mbedtls_x509_crt *x)
{
	if (x->issuer_raw.len != x->subject_raw.len ||
	    memcmp(x->issuer_raw.p, x->subject_raw.p, x->issuer_raw.len) != 0)
		return 0;
	const mbedtls_md_info_t *md = mbedtls_md_info_from_type(x->MBEDTLS_PRIVATE(sig_md));
	unsigned char hash[MBEDTLS_MD_MAX_SIZE];
	if (md == NULL || mbedtls_md(md, x->tbs.p, x->tbs.len, hash) != 0)
		return 0;
	return mbedtls_pk_verify_ext(x->MBEDTLS_PRIVATE(sig_pk), x->MBEDTLS_PRIVATE(sig_opts),
	                             (mbedtls_pk_context *)(uintptr_t)&x->pk,
	                             x->MBEDTLS_PRIVATE(sig_md), hash, mbedtls_md_get_size(md),
	                             x->MBEDTLS_PRIVATE(sig).p, x->MBEDTLS_PRIVATE(sig).len) == 0;
}

static certpin_err add_cert(cp_reader *r, const uint8_t *der, size_t len)
{
	mbedtls_x509_crt x;
	mbedtls_x509_crt_init(&x);
	if (mbedtls_x509_crt_parse_der(&x, der, len) != 0 || x.raw.len != len) {
		mbedtls_x509_crt_free(&x);
		return cp_obj_fail(r, CERTPIN_E_KEY_FILE, "not a valid DER certificate");
	}
	cp_obj *o = NULL;
	certpin_err rc = cp_obj_list_push(r, &o);
	if (rc != CERTPIN_OK)
		goto out;
	o->pub.kind = CERTPIN_OBJ_CERT;
	o->pub.line = r->line;
	if (certpin_pin_cert_from_cert_der(der, len, &o->pub.cert_pin) != CERTPIN_OK ||
	    certpin_pin_spki_from_spki_der(x.pk_raw.p, x.pk_raw.len, &o->pub.spki_pin) != CERTPIN_OK) {
		rc = cp_obj_fail(r, CERTPIN_E_KEY_FILE, "certificate is not valid DER");
		goto fail;
	}
	o->der = malloc(len);
	o->subject = name_text(&x.subject);
	if (o->der == NULL || o->subject == NULL) {
		rc = cp_obj_fail_nomem(r);
		goto fail;
	}
	memcpy(o->der, der, len);
	o->pub.der_len = len;
	key_type_text(&x.pk, o->key_type, sizeof o->key_type);
	o->pub.is_ca = x.MBEDTLS_PRIVATE(ca_istrue) != 0;
	o->pub.self_signed = self_signed(&x);
	goto out;
fail:
	cp_obj_list_pop(r->list);
out:
	mbedtls_x509_crt_free(&x);
	return rc;
}

static certpin_err add_csr(cp_reader *r, const uint8_t *der, size_t len)
{
	mbedtls_x509_csr csr;
	mbedtls_x509_csr_init(&csr);
	if (mbedtls_x509_csr_parse_der(&csr, der, len) != 0) {
		mbedtls_x509_csr_free(&csr);
		return cp_obj_fail(r, CERTPIN_E_KEY_FILE, "not a valid DER certificate request");
	}
	certpin_err rc = add_key(r, CERTPIN_OBJ_CSR, &csr.pk);
	if (rc == CERTPIN_OK) {
		cp_obj *o = &r->list->v[r->list->n - 1];
		o->subject = name_text(&csr.subject);
		if (o->subject == NULL) {
			cp_obj_list_pop(r->list);
			rc = cp_obj_fail_nomem(r);
		}
	}
	mbedtls_x509_csr_free(&csr);
	return rc;
}

static certpin_err add_public(cp_reader *r, const uint8_t *der, size_t len)
{
	mbedtls_pk_context pk;
	mbedtls_pk_init(&pk);
	certpin_err rc;
	if (mbedtls_pk_parse_public_key(&pk, der, len) != 0)
		rc = cp_obj_fail(r, CERTPIN_E_KEY_FILE, "not a valid DER public key");
	else
		rc = add_key(r, CERTPIN_OBJ_PUBKEY, &pk);
	mbedtls_pk_free(&pk);
	return rc;
}

static certpin_err add_private(cp_reader *r, const uint8_t *der, size_t len)
{
	mbedtls_pk_context pk;
	mbedtls_pk_init(&pk);
	certpin_err rc;
#if MBEDTLS_VERSION_MAJOR >= 3
	int ret = mbedtls_pk_parse_key(&pk, der, len, NULL, 0, NULL, NULL);
#else
	int ret = mbedtls_pk_parse_key(&pk, der, len, NULL, 0);
#endif
	if (ret == MBEDTLS_ERR_PK_PASSWORD_REQUIRED || ret == MBEDTLS_ERR_PK_PASSWORD_MISMATCH)
		rc = cp_obj_fail(r, CERTPIN_E_PASSWORD,
		                 "encrypted private keys are not read by the mbedTLS build");
	else if (ret != 0)
		rc = cp_obj_fail(r, CERTPIN_E_KEY_FILE, "not a valid DER private key");
	else
		rc = add_key(r, CERTPIN_OBJ_PRIVKEY, &pk);
	mbedtls_pk_free(&pk); /* wipes the key */
	return rc;
}

/* ---- PEM ------------------------------------------------------------------------ */

static const struct {
	const char *type;
	certpin_err (*add)(cp_reader *, const uint8_t *, size_t);
	int secret;
} pem_types[] = {
	{"CERTIFICATE", add_cert, 0},
	{"TRUSTED CERTIFICATE", NULL, 0},
	{"PUBLIC KEY", add_public, 0},
	{"PRIVATE KEY", add_private, 1},
	{"RSA PRIVATE KEY", add_private, 1},
	{"EC PRIVATE KEY", add_private, 1},
	{"CERTIFICATE REQUEST", add_csr, 0},
	{"NEW CERTIFICATE REQUEST", add_csr, 0},
	{"ENCRYPTED PRIVATE KEY", NULL, 1},
	{"PKCS12", NULL, 1},
	{"EC PARAMETERS", NULL, 0},
};

static certpin_err pem_body(cp_reader *r, const char *type, const char *b, size_t bl)
{
	size_t i, n = sizeof pem_types / sizeof pem_types[0];
	for (i = 0; i < n; i++)
		if (strcmp(pem_types[i].type, type) == 0)
			break;
	if (i == n)
		return cp_obj_fail(r, CERTPIN_E_KEY_FILE, "unknown PEM block type \"%s\"", type);
	if (strcmp(type, "EC PARAMETERS") == 0)
		return CERTPIN_OK; /* carries no key */
	if (pem_types[i].add == NULL)
		return cp_obj_fail(r, strcmp(type, "ENCRYPTED PRIVATE KEY") == 0 ? CERTPIN_E_PASSWORD
		                                                                    : CERTPIN_E_KEY_FILE,
		                   "\"%s\" is not read by the mbedTLS build of certpin", type);
	if (memchr(b, ':', bl) != NULL)
		return cp_obj_fail(r, CERTPIN_E_PASSWORD,
		                   "encrypted PEM blocks are not read by the mbedTLS build");
	/* base64 without the line breaks */
	char *text = malloc(bl + 1);
	uint8_t *der = malloc(bl);
	size_t tl = 0, dl = 0;
	certpin_err rc;
	if (text == NULL || der == NULL) {
		rc = cp_obj_fail_nomem(r);
		goto out;
	}
	for (size_t k = 0; k < bl; k++)
		if (b[k] != '\n' && b[k] != '\r' && b[k] != ' ' && b[k] != '\t')
			text[tl++] = b[k];
	if (mbedtls_base64_decode(der, bl, &dl, (const unsigned char *)text, tl) != 0 || dl == 0) {
		rc = cp_obj_fail(r, CERTPIN_E_KEY_FILE, "the PEM body is not valid base64");
		goto out;
	}
	rc = pem_types[i].add(r, der, dl);
out:
	if (der != NULL && pem_types[i].secret)
		cp_memzero(der, bl);
	if (text != NULL && pem_types[i].secret)
		cp_memzero(text, bl);
	free(der);
	free(text);
	return rc;
}

static certpin_err read_pem(cp_reader *r, const char *s, size_t len, size_t *blocks)
{
	const char *end = s + len, *p = s;
	unsigned line = 1;
	*blocks = 0;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		if ((size_t)(le - p) > 11 && memcmp(p, "-----BEGIN ", 11) == 0) {
			const char *t = p + 11, *te = t;
			while (te < le && *te != '-')
				te++;
			char type[64];
			size_t tl = (size_t)(te - t);
			if (tl == 0 || tl >= sizeof type || te + 5 > le || memcmp(te, "-----", 5) != 0)
				return cp_obj_fail(r, CERTPIN_E_KEY_FILE, "malformed PEM BEGIN line");
			memcpy(type, t, tl);
			type[tl] = '\0';
			char endline[96];
			snprintf(endline, sizeof endline, "-----END %s-----", type);
			const char *body = nl ? nl + 1 : end;
			const char *e = body;
			unsigned body_lines = 0;
			while (e < end && !((size_t)(end - e) >= strlen(endline) &&
			                    memcmp(e, endline, strlen(endline)) == 0)) {
				const char *n2 = memchr(e, '\n', (size_t)(end - e));
				e = n2 ? n2 + 1 : end;
				body_lines++;
			}
			r->line = line;
			if (e >= end)
				return cp_obj_fail(r, CERTPIN_E_KEY_FILE, "no \"%s\" line", endline);
			if (++*blocks > CP_MAX_PEM_BLOCKS)
				return cp_obj_fail(r, CERTPIN_E_TOO_LARGE, "more than %u PEM blocks",
				                   CP_MAX_PEM_BLOCKS);
			certpin_err rc = pem_body(r, type, body, (size_t)(e - body));
			if (rc != CERTPIN_OK)
				return rc;
			line += 1 + body_lines;
			const char *n3 = memchr(e, '\n', (size_t)(end - e));
			p = n3 ? n3 + 1 : end;
			line++;
			continue;
		}
		p = nl ? nl + 1 : end;
		line++;
	}
	r->line = 0;
	return CERTPIN_OK;
}

/* ---- DER -------------------------------------------------------------------------- */

static certpin_err read_der(cp_reader *r, const uint8_t *data, size_t len)
{
	certpin_error saved;
	certpin_error *keep = r->err;
	r->err = &saved; /* the attempts' own errors are not the answer */
	certpin_err rc = add_cert(r, data, len);
	if (rc == CERTPIN_E_KEY_FILE)
		rc = add_public(r, data, len);
	if (rc == CERTPIN_E_KEY_FILE)
		rc = add_csr(r, data, len);
	if (rc == CERTPIN_E_KEY_FILE)
		rc = add_private(r, data, len);
	r->err = keep;
	if (rc == CERTPIN_E_KEY_FILE)
		return cp_obj_fail(r, CERTPIN_E_KEY_FILE,
		                   "not a PEM or DER certificate, public key, private key or CSR "
		                   "(PKCS#12 and encrypted keys need the OpenSSL build)");
	if (rc != CERTPIN_OK && keep != NULL)
		*keep = saved;
	return rc;
}

certpin_err cp_objects_read(cp_reader *r, const uint8_t *data, size_t len)
{
	size_t blocks = 0;
	certpin_err rc = CERTPIN_OK;
	if (cp_obj_contains(data, len, "-----BEGIN "))
		rc = read_pem(r, (const char *)data, len, &blocks);
	if (rc == CERTPIN_OK && blocks == 0)
		rc = read_der(r, data, len);
	return rc;
}
