/*
 * Signed pin bundles: JWS compact serialization (RFC 7515) with ES256 or
 * EdDSA, kid = RFC 7638 JWK thumbprint, payload = a certpin policy plus the
 * claims seq, iat, exp, aud and signers (include/certpin/certpin_bundle.h).
 *
 * Order of checks in verification, each refusing with its own error: size,
 * structure (three strict base64url parts), header (exactly alg, kid, typ),
 * algorithm allow-list, the key the kid names and its algorithm, the
 * signature, and only then the payload: a forged bundle never reaches the
 * JSON and policy parsers with attacker-chosen content beyond the header.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "certpin/certpin_bundle.h"
#include "internal.h"

#define MAX_KEYS 16
#define HEADER_MAX 1024
#define AUD_MAX 256
#define SEQ_MAX 9007199254740991LL /* 2^53 - 1: exact in every JSON implementation */
#define TYP "certpin-bundle+jws"

struct certpin_keyset {
	size_t n;
	cp_jkey *keys[MAX_KEYS];
	char kids[MAX_KEYS][CERTPIN_KID_STRLEN];
};

struct certpin_bundle {
	certpin_policy *policy;
	int64_t seq, iat, exp;
	char aud[AUD_MAX + 1];
	char kid[CERTPIN_KID_STRLEN];
	const char *alg;
	certpin_keyset *signers;
};

static const char *const claim_names[] = {"seq", "iat", "exp", "aud", "signers"};

/* ---- base64url ----------------------------------------------------------- */

static const char b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t cp_b64url_encode(const uint8_t *in, size_t n, char *out)
{
	size_t o = 0, i = 0;
	for (; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[o++] = b64url_alphabet[v >> 18 & 63];
		out[o++] = b64url_alphabet[v >> 12 & 63];
		out[o++] = b64url_alphabet[v >> 6 & 63];
		out[o++] = b64url_alphabet[v & 63];
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)in[i] << 16;
		out[o++] = b64url_alphabet[v >> 18 & 63];
		out[o++] = b64url_alphabet[v >> 12 & 63];
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		out[o++] = b64url_alphabet[v >> 18 & 63];
		out[o++] = b64url_alphabet[v >> 12 & 63];
		out[o++] = b64url_alphabet[v >> 6 & 63];
	}
	out[o] = '\0';
	return o;
}

static int b64url_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

size_t cp_b64url_decode(const char *in, size_t n, uint8_t *out, size_t cap)
{
	if (n % 4 == 1)
		return (size_t)-1;
	size_t need = n / 4 * 3 + (n % 4 == 0 ? 0 : n % 4 - 1);
	if (need > cap)
		return (size_t)-1;
	size_t o = 0;
	uint32_t acc = 0;
	int bits = 0;
	for (size_t i = 0; i < n; i++) {
		int v = b64url_value((unsigned char)in[i]);
		if (v < 0)
			return (size_t)-1;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
			acc &= (1u << bits) - 1u;
		}
	}
	if (acc != 0) /* non-canonical: unused bits set */
		return (size_t)-1;
	return o;
}

/* ---- key sets -------------------------------------------------------------- */

certpin_keyset *certpin_keyset_new(void)
{
	return calloc(1, sizeof(certpin_keyset));
}

void certpin_keyset_free(certpin_keyset *ks)
{
	if (ks == NULL)
		return;
	for (size_t i = 0; i < ks->n; i++)
		cp_jkey_free(ks->keys[i]);
	free(ks);
}

size_t certpin_keyset_count(const certpin_keyset *ks)
{
	return ks != NULL ? ks->n : 0;
}

/* The RFC 7638 canonical JWK of k (members in lexicographic order). */
static size_t jwk_text(const cp_jkey *k, char *buf, size_t n)
{
	char x[48], y[48];
	cp_b64url_encode(cp_jkey_x(k), 32, x);
	int l;
	if (cp_jkey_alg(k) == CP_ALG_EDDSA) {
		l = snprintf(buf, n, "{\"crv\":\"Ed25519\",\"kty\":\"OKP\",\"x\":\"%s\"}", x);
	} else {
		cp_b64url_encode(cp_jkey_y(k), 32, y);
		l = snprintf(buf, n, "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}", x, y);
	}
	return l > 0 && (size_t)l < n ? (size_t)l : 0;
}

static int thumbprint(const cp_jkey *k, char kid[CERTPIN_KID_STRLEN])
{
	char jwk[200];
	uint8_t h[CERTPIN_HASH_LEN];
	size_t l = jwk_text(k, jwk, sizeof jwk);
	if (l == 0 || cp_sha256((const uint8_t *)jwk, l, h) != 0)
		return -1;
	cp_b64url_encode(h, sizeof h, kid);
	return 0;
}

/* Adds k to ks (taking it; freed on failure). */
static certpin_err keyset_take(certpin_keyset *ks, cp_jkey *k, char *kid_out, certpin_error *err)
{
	char kid[CERTPIN_KID_STRLEN];
	if (thumbprint(k, kid) != 0) {
		cp_jkey_free(k);
		return cp_err_set(err, CERTPIN_E_INTERNAL, "cannot compute the key's thumbprint");
	}
	for (size_t i = 0; i < ks->n; i++) {
		if (strcmp(ks->kids[i], kid) == 0) {
			cp_jkey_free(k);
			return cp_err_set(err, CERTPIN_E_DUPLICATE, "key %s is already in the set", kid);
		}
	}
	if (ks->n >= MAX_KEYS) {
		cp_jkey_free(k);
		return cp_err_set(err, CERTPIN_E_TOO_LARGE, "a key set holds at most %d keys", MAX_KEYS);
	}
	ks->keys[ks->n] = k;
	memcpy(ks->kids[ks->n], kid, sizeof kid);
	ks->n++;
	if (kid_out != NULL)
		memcpy(kid_out, kid, sizeof kid);
	return CERTPIN_OK;
}

certpin_err certpin_keyset_add_pem(certpin_keyset *ks, const char *pem, size_t len, char *kid,
                                   certpin_error *err)
{
	if (ks == NULL || pem == NULL)
		return cp_err_set(err, CERTPIN_E_INVALID_ARG, "NULL argument");
	cp_jkey *k = NULL;
	certpin_err rc = cp_jkey_from_pem(pem, len, &k, err);
	if (rc != CERTPIN_OK)
		return rc;
	return keyset_take(ks, k, kid, err);
}

/* Reads a whole small file; malloc'd, NUL-terminated. */
static certpin_err read_small(const char *path, size_t cap, char **out, size_t *len,
                              certpin_error *err)
{
	FILE *f = fopen(path, "rb");
	*out = NULL;
	if (f == NULL)
		return cp_err_set(err, CERTPIN_E_IO, "cannot open %s", path);
	char *buf = malloc(cap + 1);
	size_t n = buf ? fread(buf, 1, cap + 1, f) : 0;
	int bad = ferror(f);
	fclose(f);
	if (buf == NULL)
		return cp_err_set(err, CERTPIN_E_NOMEM, "out of memory");
	if (bad) {
		free(buf);
		return cp_err_set(err, CERTPIN_E_IO, "cannot read %s", path);
	}
	if (n > cap) {
		free(buf);
		return cp_err_set(err, CERTPIN_E_TOO_LARGE, "%s is over %zu bytes", path, cap);
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return CERTPIN_OK;
}

certpin_err certpin_keyset_add_file(certpin_keyset *ks, const char *path, char *kid,
                                    certpin_error *err)
{
	if (ks == NULL || path == NULL)
		return cp_err_set(err, CERTPIN_E_INVALID_ARG, "NULL argument");
	char *pem = NULL;
	size_t len = 0;
	certpin_err rc = read_small(path, 64 * 1024, &pem, &len, err);
	if (rc == CERTPIN_OK)
		rc = certpin_keyset_add_pem(ks, pem, len, kid, err);
	free(pem);
	if (rc != CERTPIN_OK && err != NULL && err->file[0] == '\0')
		cp_strlcpy(err->file, path, sizeof err->file);
	return rc;
}

static const cp_jkey *keyset_find(const certpin_keyset *ks, const char *kid)
{
	for (size_t i = 0; i < ks->n; i++)
		if (strcmp(ks->kids[i], kid) == 0)
			return ks->keys[i];
	return NULL;
}

/* ---- JWKs in "signers" ----------------------------------------------------- */

static json_t *jwk_json(const cp_jkey *k)
{
	char text[200];
	if (jwk_text(k, text, sizeof text) == 0)
		return NULL;
	return json_loads(text, 0, NULL);
}

/* One JWK object: exactly kty, crv, x (and y for EC). */
static certpin_err jwk_parse(json_t *o, cp_jkey **out, certpin_error *err)
{
	const char *kty = json_string_value(json_object_get(o, "kty"));
	const char *crv = json_string_value(json_object_get(o, "crv"));
	const char *xs = json_string_value(json_object_get(o, "x"));
	const char *ys = json_string_value(json_object_get(o, "y"));
	*out = NULL;
	if (!json_is_object(o) || kty == NULL || crv == NULL || xs == NULL)
		return cp_err_set(err, CERTPIN_E_BUNDLE, "a signer must be a JWK with kty, crv and x");
	enum cp_jws_alg alg;
	size_t members;
	if (strcmp(kty, "EC") == 0 && strcmp(crv, "P-256") == 0 && ys != NULL) {
		alg = CP_ALG_ES256;
		members = 4;
	} else if (strcmp(kty, "OKP") == 0 && strcmp(crv, "Ed25519") == 0 && ys == NULL) {
		alg = CP_ALG_EDDSA;
		members = 3;
	} else {
		return cp_err_set(err, CERTPIN_E_BUNDLE,
		                  "a signer must be an EC P-256 or OKP Ed25519 JWK (kty %s, crv %s)", kty,
		                  crv);
	}
	if (json_object_size(o) != members)
		return cp_err_set(err, CERTPIN_E_BUNDLE,
		                  "a signer JWK has only kty, crv, x%s (no private or other members)",
		                  alg == CP_ALG_ES256 ? " and y" : "");
	uint8_t x[33], y[33];
	size_t xl = cp_b64url_decode(xs, strlen(xs), x, sizeof x);
	size_t yl = ys ? cp_b64url_decode(ys, strlen(ys), y, sizeof y) : 0;
	if (xl != 32 || (ys != NULL && yl != 32) ||
	    cp_jkey_from_raw(alg, x, xl, ys ? y : NULL, yl, out) != CERTPIN_OK)
		return cp_err_set(err, CERTPIN_E_BUNDLE, "a signer JWK does not hold a valid %s key",
		                  alg == CP_ALG_ES256 ? "P-256" : "Ed25519");
	return CERTPIN_OK;
}

/* ---- key sets as JSON (the updater's cache) -------------------------------- */

struct json_t *cp_keyset_to_json(const certpin_keyset *ks)
{
	json_t *arr = json_array();
	for (size_t i = 0; arr != NULL && i < ks->n; i++) {
		if (json_array_append_new(arr, jwk_json(ks->keys[i])) != 0) {
			json_decref(arr);
			arr = NULL;
		}
	}
	return arr;
}

certpin_err cp_keyset_from_json(struct json_t *arr, certpin_keyset **out)
{
	*out = NULL;
	if (!json_is_array(arr) || json_array_size(arr) == 0 || json_array_size(arr) > MAX_KEYS)
		return CERTPIN_E_BUNDLE;
	certpin_keyset *ks = certpin_keyset_new();
	if (ks == NULL)
		return CERTPIN_E_NOMEM;
	for (size_t i = 0; i < json_array_size(arr); i++) {
		cp_jkey *k = NULL;
		certpin_err rc = jwk_parse(json_array_get(arr, i), &k, NULL);
		if (rc == CERTPIN_OK)
			rc = keyset_take(ks, k, NULL, NULL);
		if (rc != CERTPIN_OK) {
			certpin_keyset_free(ks);
			return rc;
		}
	}
	*out = ks;
	return CERTPIN_OK;
}

certpin_keyset *cp_keyset_union(const certpin_keyset *a, const certpin_keyset *b)
{
	certpin_keyset *ks = certpin_keyset_new();
	const certpin_keyset *src[2] = {a, b};
	for (size_t s = 0; ks != NULL && s < 2; s++) {
		for (size_t i = 0; src[s] != NULL && i < src[s]->n; i++) {
			const cp_jkey *k = src[s]->keys[i];
			cp_jkey *copy = NULL;
			if (keyset_find(ks, src[s]->kids[i]) != NULL)
				continue;
			if (cp_jkey_from_raw(cp_jkey_alg(k), cp_jkey_x(k), 32, cp_jkey_y(k),
			                     cp_jkey_y(k) ? 32 : 0, &copy) != CERTPIN_OK ||
			    keyset_take(ks, copy, NULL, NULL) != CERTPIN_OK) {
				certpin_keyset_free(ks);
				return NULL;
			}
		}
	}
	return ks;
}

/* ---- claims ------------------------------------------------------------------ */

static certpin_err int_claim(json_t *o, const char *name, int required, int64_t lo, int64_t hi,
                             int64_t *out, certpin_error *err)
{
	json_t *v = json_object_get(o, name);
	if (v == NULL) {
		if (!required)
			return CERTPIN_OK;
		cp_err_set(err, CERTPIN_E_BUNDLE, "the payload has no \"%s\" claim", name);
	} else if (!json_is_integer(v)) {
		cp_err_set(err, CERTPIN_E_BUNDLE, "\"%s\" must be an integer", name);
	} else if (json_integer_value(v) < lo || json_integer_value(v) > hi) {
		cp_err_set(err, CERTPIN_E_BUNDLE, "\"%s\" must be %lld..%lld", name, (long long)lo,
		           (long long)hi);
	} else {
		*out = (int64_t)json_integer_value(v);
		return CERTPIN_OK;
	}
	if (err != NULL)
		snprintf(err->path, sizeof err->path, "$.%s", name);
	return CERTPIN_E_BUNDLE;
}

/* Takes the claims out of the payload object o into b. */
static certpin_err take_claims(json_t *o, certpin_bundle *b, certpin_error *err)
{
	certpin_err rc;
	if ((rc = int_claim(o, "seq", 1, 1, SEQ_MAX, &b->seq, err)) != CERTPIN_OK ||
	    (rc = int_claim(o, "iat", 1, 0, SEQ_MAX, &b->iat, err)) != CERTPIN_OK ||
	    (rc = int_claim(o, "exp", 1, 1, SEQ_MAX, &b->exp, err)) != CERTPIN_OK)
		return rc;
	if (b->exp <= b->iat) {
		cp_err_set(err, CERTPIN_E_BUNDLE, "\"exp\" must be after \"iat\"");
		if (err != NULL)
			cp_strlcpy(err->path, "$.exp", sizeof err->path);
		return CERTPIN_E_BUNDLE;
	}
	json_t *aud = json_object_get(o, "aud");
	if (aud != NULL) {
		const char *a = json_string_value(aud);
		size_t al = a ? strlen(a) : 0;
		if (a == NULL || al == 0 || al > AUD_MAX || al != json_string_length(aud)) {
			cp_err_set(err, CERTPIN_E_BUNDLE, "\"aud\" must be a string of 1..%d characters",
			           AUD_MAX);
			if (err != NULL)
				cp_strlcpy(err->path, "$.aud", sizeof err->path);
			return CERTPIN_E_BUNDLE;
		}
		memcpy(b->aud, a, al + 1);
	}
	json_t *signers = json_object_get(o, "signers");
	if (signers != NULL) {
		if (!json_is_array(signers) || json_array_size(signers) == 0 ||
		    json_array_size(signers) > MAX_KEYS) {
			cp_err_set(err, CERTPIN_E_BUNDLE, "\"signers\" must be an array of 1..%d JWKs",
			           MAX_KEYS);
			if (err != NULL)
				cp_strlcpy(err->path, "$.signers", sizeof err->path);
			return CERTPIN_E_BUNDLE;
		}
		b->signers = certpin_keyset_new();
		if (b->signers == NULL)
			return cp_err_set(err, CERTPIN_E_NOMEM, "out of memory");
		for (size_t i = 0; i < json_array_size(signers); i++) {
			cp_jkey *k = NULL;
			rc = jwk_parse(json_array_get(signers, i), &k, err);
			if (rc == CERTPIN_OK)
				rc = keyset_take(b->signers, k, NULL, err);
			if (rc != CERTPIN_OK) {
				if (rc == CERTPIN_E_DUPLICATE || rc == CERTPIN_E_TOO_LARGE)
					rc = CERTPIN_E_BUNDLE;
				if (err != NULL) {
					err->code = rc;
					snprintf(err->path, sizeof err->path, "$.signers[%zu]", i);
				}
				return rc;
			}
		}
	}
	for (size_t i = 0; i < sizeof claim_names / sizeof claim_names[0]; i++)
		json_object_del(o, claim_names[i]);
	return CERTPIN_OK;
}

/* A bundle carries no pin_files: it must mean the same on every device. */
static certpin_err refuse_pin_files(json_t *o, certpin_error *err)
{
	json_t *domains = json_object_get(o, "domains");
	size_t i;
	json_t *d;
	json_array_foreach(domains, i, d)
	{
		if (json_object_get(d, "pin_files") != NULL) {
			cp_err_set(err, CERTPIN_E_BUNDLE,
			           "a bundle cannot use pin_files: turn them into pins ('certpin pin -q FILE')");
			if (err != NULL)
				snprintf(err->path, sizeof err->path, "$.domains[%zu].pin_files", i);
			return CERTPIN_E_BUNDLE;
		}
	}
	return CERTPIN_OK;
}

/* Loads the policy part of o (claims removed) as a policy named name. */
static certpin_err load_policy(json_t *o, const char *name, certpin_policy **out,
                               certpin_error *err)
{
	certpin_err rc = refuse_pin_files(o, err);
	if (rc != CERTPIN_OK)
		return rc;
	char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (text == NULL)
		return cp_err_set(err, CERTPIN_E_NOMEM, "out of memory");
	rc = cp_policy_load_mem_ex(text, strlen(text), name, NULL, 0, 0, out, NULL, err);
	free(text);
	if (rc != CERTPIN_OK && err != NULL) {
		/* positions in the re-serialised text mean nothing to the reader */
		err->line = 0;
		err->column = 0;
	}
	return rc;
}

static json_t *parse_json(const uint8_t *p, size_t n, certpin_error *err, const char *what)
{
	json_error_t je;
	json_t *j = json_loadb((const char *)p, n, JSON_REJECT_DUPLICATES, &je);
	if (j == NULL) {
		cp_err_set(err, CERTPIN_E_BUNDLE, "the %s is not valid JSON: %s", what, je.text);
		return NULL;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		cp_err_set(err, CERTPIN_E_BUNDLE, "the %s is not a JSON object", what);
		return NULL;
	}
	return j;
}

/* ---- structure ---------------------------------------------------------------- */

struct parts {
	const char *h, *p, *s; /* the three base64url parts */
	size_t hl, pl, sl;
};

static certpin_err split(const char *jws, size_t len, struct parts *pt, certpin_error *err)
{
	if (len > CERTPIN_BUNDLE_MAX)
		return cp_err_set(err, CERTPIN_E_TOO_LARGE, "a bundle is at most %u bytes",
		                  CERTPIN_BUNDLE_MAX);
	/* a trailing newline (files, HTTP bodies) is tolerated, nothing else */
	while (len > 0 && (jws[len - 1] == '\n' || jws[len - 1] == '\r'))
		len--;
	const char *d1 = memchr(jws, '.', len);
	const char *d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - jws)) : NULL;
	if (d1 == NULL || d2 == NULL || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - jws)) != NULL)
		return cp_err_set(err, CERTPIN_E_BUNDLE,
		                  "not a JWS in compact serialization (three base64url parts "
		                  "separated by dots)");
	pt->h = jws;
	pt->hl = (size_t)(d1 - jws);
	pt->p = d1 + 1;
	pt->pl = (size_t)(d2 - pt->p);
	pt->s = d2 + 1;
	pt->sl = len - (size_t)(pt->s - jws);
	if (pt->hl == 0 || pt->pl == 0 || pt->sl == 0)
		return cp_err_set(err, CERTPIN_E_BUNDLE, "a JWS part is empty%s",
		                  pt->sl == 0 ? " (an unsigned JWS is refused)" : "");
	return CERTPIN_OK;
}

/* Decodes part (base64url) into a malloc'd buffer of at most cap bytes. */
static uint8_t *decode_part(const char *s, size_t n, size_t cap, size_t *out_len, const char *what,
                            certpin_error *err)
{
	uint8_t *buf = malloc(cap + 1);
	if (buf == NULL) {
		cp_err_set(err, CERTPIN_E_NOMEM, "out of memory");
		return NULL;
	}
	size_t l = cp_b64url_decode(s, n, buf, cap);
	if (l == (size_t)-1) {
		free(buf);
		cp_err_set(err, CERTPIN_E_BUNDLE, "the %s is not canonical unpadded base64url%s", what,
		           n / 4 * 3 > cap ? " (or is too long)" : "");
		return NULL;
	}
	buf[l] = '\0';
	*out_len = l;
	return buf;
}

/* The header: exactly {alg, kid, typ}. Fills alg and kid. */
static certpin_err check_header(const struct parts *pt, enum cp_jws_alg *alg, char *kid,
                                certpin_error *err)
{
	size_t hl;
	uint8_t *h = decode_part(pt->h, pt->hl, HEADER_MAX, &hl, "header", err);
	if (h == NULL)
		return err ? err->code : CERTPIN_E_BUNDLE;
	json_t *o = parse_json(h, hl, err, "header");
	free(h);
	if (o == NULL)
		return CERTPIN_E_BUNDLE;
	certpin_err rc = CERTPIN_E_BUNDLE;
	const char *a = json_string_value(json_object_get(o, "alg"));
	const char *k = json_string_value(json_object_get(o, "kid"));
	const char *t = json_string_value(json_object_get(o, "typ"));
	if (a == NULL) {
		cp_err_set(err, CERTPIN_E_BUNDLE, "the header has no \"alg\" string");
	} else if (strcmp(a, "ES256") == 0 || strcmp(a, "EdDSA") == 0) {
		*alg = a[0] == 'E' && a[1] == 'S' ? CP_ALG_ES256 : CP_ALG_EDDSA;
		if (k == NULL || strlen(k) != CERTPIN_KID_STRLEN - 1) {
			cp_err_set(err, CERTPIN_E_BUNDLE,
			           "the header's \"kid\" must be a key's JWK SHA-256 thumbprint");
		} else if (t == NULL || strcmp(t, TYP) != 0) {
			cp_err_set(err, CERTPIN_E_BUNDLE, "the header's \"typ\" must be \"" TYP "\"");
		} else if (json_object_size(o) != 3) {
			cp_err_set(err, CERTPIN_E_BUNDLE,
			           "the header may hold only alg, kid and typ (no jwk, jku, x5u, crit, ...)");
		} else {
			memcpy(kid, k, CERTPIN_KID_STRLEN);
			rc = CERTPIN_OK;
		}
	} else {
		char shown[24];
		cp_strlcpy(shown, a, sizeof shown);
		for (char *c = shown; *c != '\0'; c++)
			if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e)
				*c = '?';
		rc = cp_err_set(err, CERTPIN_E_SIGNATURE,
		                "algorithm \"%s\" is refused (only ES256 and EdDSA)", shown);
	}
	json_decref(o);
	return rc;
}

static const char *alg_name(enum cp_jws_alg a)
{
	return a == CP_ALG_EDDSA ? "EdDSA" : "ES256";
}

/* Verifies the signature over header.payload with the key kid names. */
static certpin_err check_signature(const struct parts *pt, const certpin_keyset *keys,
                                   enum cp_jws_alg alg, const char *kid, certpin_error *err)
{
	const cp_jkey *k = keyset_find(keys, kid);
	if (k == NULL)
		return cp_err_set(err, CERTPIN_E_SIGNATURE, "no trusted signer key has kid %s", kid);
	if (cp_jkey_alg(k) != alg)
		return cp_err_set(err, CERTPIN_E_SIGNATURE,
		                  "the header says %s but key %s is %s key", alg_name(alg), kid,
		                  cp_jkey_alg(k) == CP_ALG_EDDSA ? "an Ed25519" : "a P-256");
	uint8_t sig[64 + 3];
	size_t sl = cp_b64url_decode(pt->s, pt->sl, sig, sizeof sig);
	if (sl != 64)
		return cp_err_set(err, CERTPIN_E_SIGNATURE,
		                  "the signature is not 64 bytes of canonical base64url");
	size_t signed_len = pt->hl + 1 + pt->pl; /* header "." payload, contiguous */
	if (!cp_jkey_verify(k, (const uint8_t *)pt->h, signed_len, sig, sl))
		return cp_err_set(err, CERTPIN_E_SIGNATURE, "the signature does not verify with key %s",
		                  kid);
	return CERTPIN_OK;
}

certpin_err cp_bundle_parse_payload(const uint8_t *payload, size_t len, const char *name,
                                    int64_t now, const char *aud, certpin_bundle **out,
                                    certpin_error *err)
{
	*out = NULL;
	certpin_err rc;
	json_t *o = parse_json(payload, len, err, "payload");
	if (o == NULL)
		return CERTPIN_E_BUNDLE;
	certpin_bundle *b = calloc(1, sizeof *b);
	if (b == NULL) {
		rc = cp_err_set(err, CERTPIN_E_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = take_claims(o, b, err)) != CERTPIN_OK)
		goto out;
	if (b->exp <= now) {
		char when[32];
		certpin_time_format(b->exp, when, sizeof when);
		rc = cp_err_set(err, CERTPIN_E_EXPIRED, "the bundle (seq %lld) expired at %s",
		                (long long)b->seq, when);
		goto out;
	}
	if (aud != NULL && strcmp(aud, b->aud) != 0) {
		rc = cp_err_set(err, CERTPIN_E_AUDIENCE, "the bundle is for \"%s\", not \"%s\"",
		                b->aud[0] ? b->aud : "(no aud)", aud);
		goto out;
	}
	if ((rc = load_policy(o, name, &b->policy, err)) != CERTPIN_OK)
		goto out;
	*out = b;
	b = NULL;
out:
	certpin_bundle_free(b);
	json_decref(o);
	return rc;
}

void certpin_bundle_free(certpin_bundle *b)
{
	if (b == NULL)
		return;
	certpin_policy_free(b->policy);
	certpin_keyset_free(b->signers);
	free(b);
}

certpin_err certpin_bundle_verify(const char *jws, size_t len, const char *name,
                                  const certpin_keyset *keys, int64_t now, const char *aud,
                                  certpin_bundle **out, certpin_error *err)
{
	if (out != NULL)
		*out = NULL;
	if (jws == NULL || keys == NULL || out == NULL)
		return cp_err_set(err, CERTPIN_E_INVALID_ARG, "NULL argument");
	if (name == NULL)
		name = "<bundle>";
	struct parts pt;
	enum cp_jws_alg alg = CP_ALG_ES256;
	char kid[CERTPIN_KID_STRLEN];
	certpin_err rc;
	certpin_bundle *b = NULL;
	uint8_t *payload = NULL;
	size_t pl;
	if ((rc = split(jws, len, &pt, err)) != CERTPIN_OK ||
	    (rc = check_header(&pt, &alg, kid, err)) != CERTPIN_OK ||
	    (rc = check_signature(&pt, keys, alg, kid, err)) != CERTPIN_OK)
		goto out;
	payload = decode_part(pt.p, pt.pl, CERTPIN_BUNDLE_MAX, &pl, "payload", err);
	if (payload == NULL) {
		rc = err ? err->code : CERTPIN_E_BUNDLE;
		goto out;
	}
	if ((rc = cp_bundle_parse_payload(payload, pl, name, now, aud, &b, err)) != CERTPIN_OK)
		goto out;
	memcpy(b->kid, kid, sizeof kid);
	b->alg = alg_name(alg);
	*out = b;
	b = NULL;
out:
	if (rc != CERTPIN_OK && err != NULL && err->file[0] == '\0')
		cp_strlcpy(err->file, name, sizeof err->file);
	certpin_bundle_free(b);
	free(payload);
	return rc;
}

certpin_policy *certpin_bundle_policy(const certpin_bundle *b)
{
	return b != NULL ? b->policy : NULL;
}
int64_t certpin_bundle_seq(const certpin_bundle *b)
{
	return b != NULL ? b->seq : 0;
}
int64_t certpin_bundle_iat(const certpin_bundle *b)
{
	return b != NULL ? b->iat : 0;
}
int64_t certpin_bundle_exp(const certpin_bundle *b)
{
	return b != NULL ? b->exp : 0;
}
const char *certpin_bundle_aud(const certpin_bundle *b)
{
	return b != NULL ? b->aud : "";
}
const char *certpin_bundle_kid(const certpin_bundle *b)
{
	return b != NULL ? b->kid : "";
}
const char *certpin_bundle_alg(const certpin_bundle *b)
{
	return b != NULL && b->alg != NULL ? b->alg : "";
}
const certpin_keyset *certpin_bundle_signers(const certpin_bundle *b)
{
	return b != NULL ? b->signers : NULL;
}

certpin_err certpin_bundle_decode_unverified(const char *jws, size_t len, char **header,
                                             char **payload, certpin_error *err)
{
	if (jws == NULL || header == NULL || payload == NULL)
		return cp_err_set(err, CERTPIN_E_INVALID_ARG, "NULL argument");
	*header = *payload = NULL;
	struct parts pt;
	certpin_err rc = split(jws, len, &pt, err);
	if (rc != CERTPIN_OK)
		return rc;
	size_t hl, pl;
	uint8_t *h = decode_part(pt.h, pt.hl, HEADER_MAX, &hl, "header", err);
	uint8_t *p = h ? decode_part(pt.p, pt.pl, CERTPIN_BUNDLE_MAX, &pl, "payload", err) : NULL;
	if (h == NULL || p == NULL) {
		free(h);
		return err ? err->code : CERTPIN_E_BUNDLE;
	}
	*header = (char *)h;
	*payload = (char *)p;
	return CERTPIN_OK;
}

/* ---- signing --------------------------------------------------------------------- */

certpin_err certpin_bundle_sign(const char *policy_json, size_t policy_len, const char *key_pem,
                                size_t key_len, const certpin_bundle_claims *c, char **out,
                                certpin_error *err)
{
	if (policy_json == NULL || key_pem == NULL || c == NULL || out == NULL)
		return cp_err_set(err, CERTPIN_E_INVALID_ARG, "NULL argument");
	*out = NULL;
	if (c->seq < 1 || c->seq > SEQ_MAX)
		return cp_err_set(err, CERTPIN_E_INVALID_ARG, "seq must be 1..%lld", (long long)SEQ_MAX);
	if (c->iat < 0 || c->exp <= c->iat || c->exp > SEQ_MAX)
		return cp_err_set(err, CERTPIN_E_INVALID_ARG, "exp must be after iat");
	if (c->aud != NULL && (c->aud[0] == '\0' || strlen(c->aud) > AUD_MAX))
		return cp_err_set(err, CERTPIN_E_INVALID_ARG, "aud must be 1..%d characters", AUD_MAX);

	cp_jkey *k = NULL;
	certpin_err rc = cp_jkey_from_pem(key_pem, key_len, &k, err);
	if (rc != CERTPIN_OK)
		return rc;
	json_t *o = NULL;
	char *payload = NULL, *result = NULL;
	certpin_policy *check = NULL;
	if (!cp_jkey_is_private(k)) {
		rc = cp_err_set(err, CERTPIN_E_KEY_FILE, "signing needs a private key, not a public one");
		goto out;
	}
	if (policy_len > 1024 * 1024) {
		rc = cp_err_set(err, CERTPIN_E_TOO_LARGE, "a policy is at most 1 MiB");
		goto out;
	}
	json_error_t je;
	o = json_loadb(policy_json, policy_len, JSON_REJECT_DUPLICATES, &je);
	if (o == NULL || !json_is_object(o)) {
		rc = cp_err_set(err, CERTPIN_E_JSON, "the policy is not a JSON object%s%s",
		                o == NULL ? ": " : "", o == NULL ? je.text : "");
		if (o == NULL && err != NULL) {
			err->line = (unsigned)(je.line > 0 ? je.line : 0);
			err->column = (unsigned)(je.column > 0 ? je.column : 0);
		}
		goto out;
	}
	for (size_t i = 0; i < sizeof claim_names / sizeof claim_names[0]; i++) {
		if (json_object_get(o, claim_names[i]) != NULL) {
			rc = cp_err_set(err, CERTPIN_E_SCHEMA,
			                "the policy already has \"%s\": claims are set when signing",
			                claim_names[i]);
			goto out;
		}
	}
	/* what devices will load: the same checks, before anything is signed */
	if ((rc = load_policy(o, "<policy>", &check, err)) != CERTPIN_OK)
		goto out;
	if (json_object_set_new(o, "seq", json_integer(c->seq)) != 0 ||
	    json_object_set_new(o, "iat", json_integer(c->iat)) != 0 ||
	    json_object_set_new(o, "exp", json_integer(c->exp)) != 0 ||
	    (c->aud != NULL && json_object_set_new(o, "aud", json_string(c->aud)) != 0)) {
		rc = cp_err_set(err, CERTPIN_E_NOMEM, "out of memory");
		goto out;
	}
	if (c->signers != NULL && c->signers->n > 0) {
		json_t *arr = json_array();
		if (arr == NULL || json_object_set_new(o, "signers", arr) != 0) {
			rc = cp_err_set(err, CERTPIN_E_NOMEM, "out of memory");
			goto out;
		}
		for (size_t i = 0; i < c->signers->n; i++) {
			if (json_array_append_new(arr, jwk_json(c->signers->keys[i])) != 0) {
				rc = cp_err_set(err, CERTPIN_E_NOMEM, "out of memory");
				goto out;
			}
		}
	}
	payload = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	char kid[CERTPIN_KID_STRLEN], header[160];
	if (payload == NULL || thumbprint(k, kid) != 0) {
		rc = cp_err_set(err, CERTPIN_E_NOMEM, "out of memory");
		goto out;
	}
	int hl = snprintf(header, sizeof header, "{\"alg\":\"%s\",\"kid\":\"%s\",\"typ\":\"" TYP "\"}",
	                  alg_name(cp_jkey_alg(k)), kid);
	size_t pl = strlen(payload);
	size_t cap = ((size_t)hl + 2) / 3 * 4 + 1 + (pl + 2) / 3 * 4 + 1 + 88 + 1;
	result = malloc(cap);
	if (hl <= 0 || (size_t)hl >= sizeof header || result == NULL) {
		rc = cp_err_set(err, CERTPIN_E_NOMEM, "out of memory");
		goto out;
	}
	size_t n = cp_b64url_encode((const uint8_t *)header, (size_t)hl, result);
	result[n++] = '.';
	n += cp_b64url_encode((const uint8_t *)payload, pl, result + n);
	if (n > CERTPIN_BUNDLE_MAX - 90) {
		rc = cp_err_set(err, CERTPIN_E_TOO_LARGE, "the bundle would be over %u bytes",
		                CERTPIN_BUNDLE_MAX);
		goto out;
	}
	uint8_t sig[64];
	if (cp_jkey_sign(k, (const uint8_t *)result, n, sig) != 0) {
		rc = cp_err_set(err, CERTPIN_E_INTERNAL, "signing failed");
		goto out;
	}
	result[n++] = '.';
	n += cp_b64url_encode(sig, sizeof sig, result + n);
	*out = result;
	result = NULL;
	rc = CERTPIN_OK;
out:
	certpin_policy_free(check);
	json_decref(o);
	free(payload);
	free(result);
	cp_jkey_free(k);
	return rc;
}
