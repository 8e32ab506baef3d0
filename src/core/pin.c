/*
 * Pins: strict parsing with messages that say what is wrong, formatting,
 * strict base64, and pins computed from DER.
 *
 * The parser is the place where a typo in a policy turns into either a clear
 * load error or a pin that silently never matches (and so blocks a site in
 * production). It therefore accepts exactly one spelling of each pin and
 * recognises the near misses people actually write: other hash algorithms,
 * curl's "sha256//", HPKP's pin-sha256="...", URL-safe base64, hex digests,
 * stray whitespace.
 */
#include <string.h>

#include "internal.h"

#define PIN_USE "use sha256/<base64 SPKI hash> or cert-sha256/<base64 certificate hash>"
/* Longer inputs are refused before any other analysis (hard cap on input). */
#define PIN_MAX_INPUT 256u
/* A SHA-256 hash in base64: 43 characters and one '=' */
#define PIN_B64_LEN 44u

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/*
 * b64_alphabet inverted: the value of each byte, B64_BAD outside the
 * alphabet. A table rather than range tests: pins are random base64, so
 * every range test is a branch the CPU cannot predict (test_pin checks the
 * table against b64_alphabet).
 */
#define B64_BAD 0xffu
#define XX      B64_BAD
/* clang-format off */
static const uint8_t b64_table[256] = {
	XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX,
	XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX,
	XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, 62, XX, XX, XX, 63, /* '+' '/' */
	52, 53, 54, 55, 56, 57, 58, 59, 60, 61, XX, XX, XX, XX, XX, XX, /* '0'-'9' */
	XX,  0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11, 12, 13, 14, /* 'A'-'O' */
	15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, XX, XX, XX, XX, XX, /* 'P'-'Z' */
	XX, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, /* 'a'-'o' */
	41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, XX, XX, XX, XX, XX, /* 'p'-'z' */
	XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX,
	XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX,
	XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX,
	XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX,
	XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX,
	XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX,
	XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX,
	XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX,
};
/* clang-format on */
#undef XX

/* Value of a standard-alphabet base64 character, or -1. */
static int b64_value(unsigned char c)
{
	return b64_table[c] != B64_BAD ? b64_table[c] : -1;
}

static int is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

size_t cp_b64_encode(const uint8_t *in, size_t n, char *out)
{
	if (out == NULL || (in == NULL && n != 0))
		return 0;
	size_t o = 0, i = 0;
	for (; n - i >= 3; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[o++] = b64_alphabet[(v >> 18) & 63];
		out[o++] = b64_alphabet[(v >> 12) & 63];
		out[o++] = b64_alphabet[(v >> 6) & 63];
		out[o++] = b64_alphabet[v & 63];
	}
	switch (n - i) {
	case 0:
		break;
	case 1: {
		uint32_t v = (uint32_t)in[i] << 16;
		out[o++] = b64_alphabet[(v >> 18) & 63];
		out[o++] = b64_alphabet[(v >> 12) & 63];
		out[o++] = '=';
		out[o++] = '=';
		break;
	}
	case 2: {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		out[o++] = b64_alphabet[(v >> 18) & 63];
		out[o++] = b64_alphabet[(v >> 12) & 63];
		out[o++] = b64_alphabet[(v >> 6) & 63];
		out[o++] = '=';
		break;
	}
	default:
		break; /* unreachable: n - i < 3 */
	}
	out[o] = '\0';
	return o;
}

size_t cp_b64_decode_strict(const char *in, size_t n, uint8_t *out, size_t cap, const char **why)
{
	const char *dummy;
	if (why == NULL)
		why = &dummy;
	*why = NULL;
	if (in == NULL || (out == NULL && cap != 0)) {
		*why = "invalid argument";
		return (size_t)-1;
	}
	if (n % 4 != 0) {
		*why = "base64 length is not a multiple of 4 (missing or extra '=' padding?)";
		return (size_t)-1;
	}
	if (n == 0)
		return 0;

	size_t pads = 0;
	while (pads < n && in[n - 1 - pads] == '=')
		pads++;
	if (pads > 2) {
		*why = "too much '=' padding";
		return (size_t)-1;
	}
	size_t data = n - pads;
	/* A byte outside the alphabet sets bits above 63: one test for them all. */
	unsigned seen = 0;
	for (size_t i = 0; i < data; i++)
		seen |= b64_table[(unsigned char)in[i]];
	if (seen > 63u) {
		/* name the first such byte */
		for (size_t i = 0; i < data; i++) {
			unsigned char c = (unsigned char)in[i];
			if (b64_value(c) >= 0)
				continue;
			if (is_space(c))
				*why = "whitespace inside base64";
			else if (c == '-' || c == '_')
				*why = "URL-safe base64 character ('-' or '_'): use the standard "
				       "alphabet ('+' and '/')";
			else if (c == '=')
				*why = "'=' inside base64: padding goes only at the end";
			else
				*why = "character outside the base64 alphabet";
			return (size_t)-1;
		}
	}
	/* Canonical: the bits of the last character that no byte uses must be zero. */
	unsigned unused_mask = pads == 1 ? 0x3u : pads == 2 ? 0xfu : 0u;
	if (((unsigned)b64_value((unsigned char)in[data - 1]) & unused_mask) != 0) {
		*why =
		    "non-canonical base64 padding: unused bits of the last character are not zero";
		return (size_t)-1;
	}
	size_t dlen = n / 4 * 3 - pads;
	if (dlen > cap) {
		*why = "base64 decodes to more bytes than expected";
		return (size_t)-1;
	}

	/* Every character is in the alphabet: four make three bytes. */
	const unsigned char *u = (const unsigned char *)in;
	size_t o = 0, i = 0;
	for (; data - i >= 4; i += 4) {
		uint32_t v = (uint32_t)b64_table[u[i]] << 18 | (uint32_t)b64_table[u[i + 1]] << 12 |
		             (uint32_t)b64_table[u[i + 2]] << 6 | b64_table[u[i + 3]];
		out[o++] = (uint8_t)(v >> 16);
		out[o++] = (uint8_t)(v >> 8);
		out[o++] = (uint8_t)v;
	}
	/* data % 4 is 0, 2 (pads == 2) or 3 (pads == 1); 1 has too much padding. */
	if (data - i >= 2) {
		uint32_t v = (uint32_t)b64_table[u[i]] << 18 | (uint32_t)b64_table[u[i + 1]] << 12;
		if (data - i == 3)
			v |= (uint32_t)b64_table[u[i + 2]] << 6;
		out[o++] = (uint8_t)(v >> 16);
		if (data - i == 3)
			out[o++] = (uint8_t)(v >> 8);
	}
	return o; /* == dlen */
}

static int has_prefix(const char *s, size_t n, const char *lit)
{
	size_t k = strlen(lit);
	return n >= k && memcmp(s, lit, k) == 0;
}

static int eq_nocase(const char *s, size_t n, const char *lit)
{
	if (n != strlen(lit))
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char a = (unsigned char)s[i], b = (unsigned char)lit[i];
		if (a >= 'A' && a <= 'Z')
			a = (unsigned char)(a - 'A' + 'a');
		if (a != b)
			return 0;
	}
	return 1;
}

/* Something that could be an algorithm name: [A-Za-z0-9._-]{1,24}. */
static int is_alg_name(const char *s, size_t n)
{
	if (n == 0 || n > 24)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.'))
			return 0;
	}
	return 1;
}

/* A bare base64 SHA-256 (43 or 44 characters), which may contain '/'. */
static int is_bare_hash(const char *s, size_t n)
{
	if (n != PIN_B64_LEN && n != PIN_B64_LEN - 1)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (b64_value((unsigned char)s[i]) < 0 && !(s[i] == '=' && i == n - 1))
			return 0;
	return 1;
}

/* The input has no accepted prefix: say what was found instead. */
static certpin_err prefix_error(const char *s, size_t len, certpin_error *err)
{
	/* HPKP header syntax: pin-sha256="base64" */
	if (has_prefix(s, len, "pin-")) {
		const char *eq = memchr(s, '=', len);
		size_t an = eq != NULL ? (size_t)(eq - s) - 4 : 0;
		if (is_alg_name(s + 4, an)) {
			if (eq_nocase(s + 4, an, "sha256"))
				return cp_err_set(
				    err, CERTPIN_E_PIN_SYNTAX,
				    "HPKP form 'pin-sha256=\"...\"': write sha256/<base64> "
				    "without quotes");
			return cp_err_set(err, CERTPIN_E_PIN_ALGORITHM,
			                  "unsupported pin algorithm '%.*s' (HPKP form): " PIN_USE,
			                  (int)an, s + 4);
		}
	}

	const char *slash = memchr(s, '/', len);
	size_t k = slash != NULL ? (size_t)(slash - s) : len;
	if (slash != NULL && is_alg_name(s, k) && !is_bare_hash(s, len)) {
		if (eq_nocase(s, k, "sha256") || eq_nocase(s, k, "cert-sha256"))
			return cp_err_set(
			    err, CERTPIN_E_PIN_ALGORITHM,
			    "unsupported pin algorithm '%.*s': prefixes are lower-case: " PIN_USE,
			    (int)k, s);
		return cp_err_set(err, CERTPIN_E_PIN_ALGORITHM,
		                  "unsupported pin algorithm '%.*s': " PIN_USE, (int)k, s);
	}
	return cp_err_set(err, CERTPIN_E_PIN_ALGORITHM, "pin has no algorithm prefix: " PIN_USE);
}

static int all_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
			return 0;
	}
	return 1;
}

/*
 * The base64 after the prefix: s[plen..len). Offsets in messages count from
 * the start of the pin, as the user sees it.
 */
static certpin_err parse_hash(const char *s, size_t len, size_t plen,
                              uint8_t hash[CERTPIN_HASH_LEN], certpin_error *err)
{
	const char *b = s + plen;
	size_t bn = len - plen;
	if (bn == 0)
		return cp_err_set(err, CERTPIN_E_PIN_SYNTAX,
		                  "nothing after '%.*s': expected %u base64 characters", (int)plen,
		                  s, PIN_B64_LEN);

	size_t data = bn;
	while (data > 0 && b[data - 1] == '=')
		data--;
	/* b[data..bn) is all '=': only b[0..data) can hold a byte to complain of. */
	unsigned seen = 0;
	for (size_t i = 0; i < data; i++)
		seen |= b64_table[(unsigned char)b[i]];
	for (size_t i = 0; seen > 63u && i < bn; i++) {
		unsigned char c = (unsigned char)b[i];
		if (c == '-' || c == '_')
			return cp_err_set(
			    err, CERTPIN_E_PIN_SYNTAX,
			    "URL-safe base64 character '%c' at offset %zu: pins use the "
			    "standard alphabet ('+' and '/')",
			    c, plen + i);
		if (c == '=' && i < data)
			return cp_err_set(
			    err, CERTPIN_E_PIN_SYNTAX,
			    "'=' at offset %zu inside the base64: padding goes only at "
			    "the end",
			    plen + i);
		if (c != '=' && b64_value(c) < 0)
			return cp_err_set(err, CERTPIN_E_PIN_SYNTAX,
			                  "character '%c' at offset %zu is not base64", c,
			                  plen + i);
	}

	size_t pads = bn - data;
	if (pads > 2)
		return cp_err_set(
		    err, CERTPIN_E_PIN_SYNTAX,
		    "%zu '=' padding characters: a SHA-256 pin ends in exactly one '='", pads);
	if (data % 4 == 1)
		return cp_err_set(
		    err, CERTPIN_E_PIN_SYNTAX,
		    "%zu base64 characters cannot be decoded (truncated?): a SHA-256 pin "
		    "has %u",
		    bn, PIN_B64_LEN);
	size_t bytes = data / 4 * 3 + (data % 4 == 3 ? 2u : data % 4 == 2 ? 1u : 0u);
	if (bytes != CERTPIN_HASH_LEN) {
		if (data == 2 * CERTPIN_HASH_LEN && pads == 0 && all_hex(b, data))
			return cp_err_set(err, CERTPIN_E_PIN_SYNTAX,
			                  "64 hex digits: pins are base64, not hex (decodes to 48 "
			                  "bytes, a SHA-256 pin has 32)");
		return cp_err_set(err, CERTPIN_E_PIN_SYNTAX,
		                  "decodes to %zu bytes, a SHA-256 pin has %d", bytes,
		                  CERTPIN_HASH_LEN);
	}
	if (pads == 0)
		return cp_err_set(
		    err, CERTPIN_E_PIN_SYNTAX,
		    "missing '=' padding: a SHA-256 pin is %u base64 characters ending "
		    "in '='",
		    PIN_B64_LEN);
	if (pads != 1)
		return cp_err_set(
		    err, CERTPIN_E_PIN_SYNTAX,
		    "extra '=' padding: a SHA-256 pin is %u base64 characters ending in "
		    "one '='",
		    PIN_B64_LEN);

	const char *why = NULL;
	size_t got = cp_b64_decode_strict(b, bn, hash, CERTPIN_HASH_LEN, &why);
	if (got != CERTPIN_HASH_LEN)
		return cp_err_set(err, CERTPIN_E_PIN_SYNTAX, "%s",
		                  why != NULL ? why : "malformed base64");
	return CERTPIN_OK;
}

certpin_err certpin_pin_parse(const char *s, size_t len, certpin_pin *out, certpin_error *err)
{
	if (s == NULL || out == NULL)
		return cp_err_set(err, CERTPIN_E_INVALID_ARG, "NULL argument");
	memset(out, 0, sizeof *out);

	if (len == 0)
		return cp_err_set(err, CERTPIN_E_PIN_SYNTAX, "empty pin: " PIN_USE);
	if (len > PIN_MAX_INPUT)
		return cp_err_set(err, CERTPIN_E_PIN_SYNTAX,
		                  "pin is %zu bytes long: a pin has at most %d characters", len,
		                  CERTPIN_PIN_STRLEN - 1);
	/* One branch-free test for "all printable, no space" (0x21-0x7e); the
	 * loop after it names the first byte that is not. */
	unsigned odd = 0;
	for (size_t i = 0; i < len; i++)
		odd |= ((unsigned char)s[i] - 0x21u) > 0x7eu - 0x21u;
	for (size_t i = 0; odd != 0 && i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\0')
			return cp_err_set(err, CERTPIN_E_PIN_SYNTAX,
			                  "NUL byte at offset %zu inside pin", i);
		if (is_space(c))
			return cp_err_set(
			    err, CERTPIN_E_PIN_SYNTAX,
			    "whitespace inside pin at offset %zu: pins contain no spaces "
			    "or line breaks",
			    i);
		if (c < 0x21 || c > 0x7e)
			return cp_err_set(err, CERTPIN_E_PIN_SYNTAX,
			                  "byte 0x%02x at offset %zu: pins are printable ASCII", c,
			                  i);
	}

	certpin_pin_type type;
	size_t plen;
	if (has_prefix(s, len, "sha256/")) {
		type = CERTPIN_PIN_SPKI_SHA256;
		plen = 7;
	} else if (has_prefix(s, len, "cert-sha256/")) {
		type = CERTPIN_PIN_CERT_SHA256;
		plen = 12;
	} else {
		return prefix_error(s, len, err);
	}

	uint8_t hash[CERTPIN_HASH_LEN];
	certpin_err rc = parse_hash(s, len, plen, hash, err);
	if (rc != CERTPIN_OK) {
		/*
		 * A valid hash may itself start with '/', so "sha256//" alone proves
		 * nothing; curl's form shows as one character too many, or as its
		 * ';'-separated list.
		 */
		size_t bn = len - plen;
		if (bn > 0 && s[plen] == '/' &&
		    (bn == PIN_B64_LEN + 1 || memchr(s, ';', len) != NULL)) {
			if (type == CERTPIN_PIN_SPKI_SHA256)
				return cp_err_set(err, CERTPIN_E_PIN_SYNTAX,
				                  "curl's 'sha256//' form: write 'sha256/' (one "
				                  "slash), one pin per entry");
			return cp_err_set(err, CERTPIN_E_PIN_SYNTAX,
			                  "double slash after 'cert-sha256/': write 'cert-sha256/' "
			                  "(one slash), one pin per entry");
		}
		return rc;
	}
	out->type = type;
	memcpy(out->hash, hash, sizeof hash);
	return CERTPIN_OK;
}

size_t certpin_pin_format(const certpin_pin *pin, char *buf, size_t n)
{
	if (buf == NULL)
		return 0;
	if (n > 0)
		buf[0] = '\0';
	if (pin == NULL)
		return 0;
	const char *prefix;
	switch (pin->type) {
	case CERTPIN_PIN_SPKI_SHA256:
		prefix = "sha256/";
		break;
	case CERTPIN_PIN_CERT_SHA256:
		prefix = "cert-sha256/";
		break;
	default:
		return 0;
	}
	size_t plen = strlen(prefix);
	if (n < plen + PIN_B64_LEN + 1)
		return 0;
	memcpy(buf, prefix, plen);
	return plen + cp_b64_encode(pin->hash, CERTPIN_HASH_LEN, buf + plen);
}

static int valid_type(certpin_pin_type t)
{
	switch (t) {
	case CERTPIN_PIN_SPKI_SHA256:
	case CERTPIN_PIN_CERT_SHA256:
		return 1;
	default:
		return 0;
	}
}

int certpin_pin_equal(const certpin_pin *a, const certpin_pin *b)
{
	/* a pin that failed to parse or compute (type 0) never matches anything */
	if (a == NULL || b == NULL || !valid_type(a->type) || a->type != b->type)
		return 0;
	return memcmp(a->hash, b->hash, CERTPIN_HASH_LEN) == 0;
}

static certpin_err hash_pin(const uint8_t *p, size_t n, certpin_pin_type type, certpin_pin *out)
{
	certpin_pin pin;
	memset(&pin, 0, sizeof pin);
	if (cp_sha256(p, n, pin.hash) != 0)
		return CERTPIN_E_INTERNAL;
	pin.type = type;
	*out = pin;
	return CERTPIN_OK;
}

certpin_err certpin_pin_spki_from_cert_der(const uint8_t *der, size_t len, certpin_pin *out)
{
	if (der == NULL || out == NULL)
		return CERTPIN_E_INVALID_ARG;
	memset(out, 0, sizeof *out);
	cp_cert_view v;
	if (cp_der_cert_view(der, len, &v) != CERTPIN_OK)
		return CERTPIN_E_DER;
	return hash_pin(v.spki.p, v.spki.n, CERTPIN_PIN_SPKI_SHA256, out);
}

certpin_err certpin_pin_cert_from_cert_der(const uint8_t *der, size_t len, certpin_pin *out)
{
	if (der == NULL || out == NULL)
		return CERTPIN_E_INVALID_ARG;
	memset(out, 0, sizeof *out);
	/* the same walk as for SPKI pins: every DER entry point accepts the same certificates */
	cp_cert_view v;
	if (cp_der_cert_view(der, len, &v) != CERTPIN_OK)
		return CERTPIN_E_DER;
	return hash_pin(der, len, CERTPIN_PIN_CERT_SHA256, out);
}

certpin_err certpin_pin_spki_from_spki_der(const uint8_t *der, size_t len, certpin_pin *out)
{
	if (der == NULL || out == NULL)
		return CERTPIN_E_INVALID_ARG;
	memset(out, 0, sizeof *out);
	if (cp_der_spki_check(der, len) != 0)
		return CERTPIN_E_DER;
	return hash_pin(der, len, CERTPIN_PIN_SPKI_SHA256, out);
}
