/* Pins: parsing (every accepted and refused form), formatting, base64, SHA-256, pins from DER. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "testutil.h"

/* A valid SPKI hash in base64 (from the architecture document). */
#define B64 "7HIpactkIAq2Y49orFOOQKurWxmmSFZhBCoQYcRhJ3Y="
/* Contains both '+' (body offset 18) and '/' (body offset 34). */
#define B64_PLUS_SLASH "fwza0LRMXouZHRC8Ei+4PyuldPRcf3UKgO/04cDM1oE="

static const uint8_t plus_slash_hash[32] = {
    0x7f, 0x0c, 0xda, 0xd0, 0xb4, 0x4c, 0x5e, 0x8b, 0x99, 0x1d, 0x10, 0xbc, 0x12, 0x2f, 0xb8, 0x3f,
    0x2b, 0xa5, 0x74, 0xf4, 0x5c, 0x7f, 0x75, 0x0a, 0x80, 0xef, 0xf4, 0xe1, 0xc0, 0xcc, 0xd6, 0x81,
};

/* ---- the table of accepted pins ------------------------------------------ */

struct good_pin {
	const char *text;
	certpin_pin_type type;
	uint8_t first, last; /* first and last hash byte */
};

static const struct good_pin good_pins[] = {
    {"sha256/" B64, CERTPIN_PIN_SPKI_SHA256, 0xec, 0x76},
    {"cert-sha256/" B64, CERTPIN_PIN_CERT_SHA256, 0xec, 0x76},
    {"sha256/" B64_PLUS_SLASH, CERTPIN_PIN_SPKI_SHA256, 0x7f, 0x81},
    /* a hash whose base64 starts with '/' is not curl's "sha256//" form */
    {"sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", CERTPIN_PIN_SPKI_SHA256, 0xfc, 0x00},
    {"sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", CERTPIN_PIN_SPKI_SHA256, 0x00, 0x00},
    {"cert-sha256///////////////////////////////////////////8=", CERTPIN_PIN_CERT_SHA256, 0xff,
     0xff},
};

static void valid_pins_parse(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof good_pins / sizeof good_pins[0]; i++) {
		const struct good_pin *g = &good_pins[i];
		certpin_pin pin;
		certpin_error err;
		certpin_err rc = certpin_pin_parse(g->text, strlen(g->text), &pin, &err);
		if (rc != CERTPIN_OK)
			fail_msg("%s: %s", g->text, err.message);
		assert_int_equal(pin.type, g->type);
		assert_int_equal(pin.hash[0], g->first);
		assert_int_equal(pin.hash[31], g->last);
	}
	certpin_pin pin;
	assert_int_equal(certpin_pin_parse("sha256/" B64_PLUS_SLASH, 51, &pin, NULL), CERTPIN_OK);
	assert_memory_equal(pin.hash, plus_slash_hash, 32);
}

static void parse_reads_only_len_bytes(void **state)
{
	(void)state;
	/* the pin is followed by more text in the caller's buffer (not NUL-terminated) */
	const char *s = "sha256/" B64 "\",\"sha1/garbage";
	certpin_pin pin;
	assert_int_equal(certpin_pin_parse(s, 51, &pin, NULL), CERTPIN_OK);
	assert_int_equal(pin.type, CERTPIN_PIN_SPKI_SHA256);
}

/* ---- the table of refused forms ---------------------------------------- */

struct bad_pin {
	const char *what;
	const char *text;
	size_t len; /* 0: strlen(text) */
	certpin_err code;
	const char *message; /* expected substring of err.message */
};

#define SHA1_B64 "AAECAwQFBgcICQoLDA0ODxAREhM="

static const struct bad_pin bad_pins[] = {
    /* algorithms */
    {"sha1 is refused", "sha1/" SHA1_B64, 0, CERTPIN_E_PIN_ALGORITHM,
     "unsupported pin algorithm 'sha1': use sha256/<base64 SPKI hash> or cert-sha256/<base64 "
     "certificate hash>"},
    {"md5 is refused", "md5/AAECAwQFBgcICQoLDA0ODw==", 0, CERTPIN_E_PIN_ALGORITHM,
     "unsupported pin algorithm 'md5'"},
    {"sha384 is refused", "sha384/AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKiss", 0,
     CERTPIN_E_PIN_ALGORITHM, "unsupported pin algorithm 'sha384'"},
    {"sha512 is refused",
     "sha512/AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+"
     "Pw==",
     0, CERTPIN_E_PIN_ALGORITHM, "unsupported pin algorithm 'sha512'"},
    {"unknown algorithm is refused", "foo/" B64, 0, CERTPIN_E_PIN_ALGORITHM,
     "unsupported pin algorithm 'foo'"},
    {"cert-sha1 is refused", "cert-sha1/" SHA1_B64, 0, CERTPIN_E_PIN_ALGORITHM,
     "unsupported pin algorithm 'cert-sha1'"},
    {"upper-case prefix is refused", "SHA256/" B64, 0, CERTPIN_E_PIN_ALGORITHM,
     "'SHA256': prefixes are lower-case"},
    {"upper-case cert prefix is refused", "Cert-SHA256/" B64, 0, CERTPIN_E_PIN_ALGORITHM,
     "prefixes are lower-case"},
    {"missing prefix is refused", B64, 0, CERTPIN_E_PIN_ALGORITHM, "pin has no algorithm prefix"},
    {"missing prefix with '/' in the hash is refused", B64_PLUS_SLASH, 0, CERTPIN_E_PIN_ALGORITHM,
     "pin has no algorithm prefix"},
    {"missing prefix with an early '/' is refused", "AAA/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
     0, CERTPIN_E_PIN_ALGORITHM, "pin has no algorithm prefix"},
    {"colon instead of slash is refused", "sha256:" B64, 0, CERTPIN_E_PIN_ALGORITHM,
     "no algorithm prefix"},
    /* other tools' syntax */
    {"curl's double slash is refused", "sha256//" B64, 0, CERTPIN_E_PIN_SYNTAX,
     "curl's 'sha256//' form: write 'sha256/'"},
    {"curl's pin list is refused", "sha256//" B64 ";sha256//" B64_PLUS_SLASH, 0,
     CERTPIN_E_PIN_SYNTAX, "curl's 'sha256//' form"},
    {"double slash on a cert pin is refused", "cert-sha256//" B64, 0, CERTPIN_E_PIN_SYNTAX,
     "write 'cert-sha256/'"},
    {"HPKP directive is refused", "pin-sha256=\"" B64 "\"", 0, CERTPIN_E_PIN_SYNTAX,
     "HPKP form 'pin-sha256=\"...\"'"},
    {"HPKP sha1 directive is refused", "pin-sha1=\"" SHA1_B64 "\"", 0, CERTPIN_E_PIN_ALGORITHM,
     "unsupported pin algorithm 'sha1' (HPKP form)"},
    /* base64 alphabet */
    {"URL-safe '-' is refused", "sha256/fwza0LRMXouZHRC8Ei-4PyuldPRcf3UKgO/04cDM1oE=", 0,
     CERTPIN_E_PIN_SYNTAX, "URL-safe base64 character '-' at offset 25"},
    {"URL-safe '_' is refused", "sha256/fwza0LRMXouZHRC8Ei+4PyuldPRcf3UKgO_04cDM1oE=", 0,
     CERTPIN_E_PIN_SYNTAX, "URL-safe base64 character '_' at offset 41"},
    {"non-base64 character is refused", "sha256/7HIpa!tkIAq2Y49orFOOQKurWxmmSFZhBCoQYcRhJ3Y=", 0,
     CERTPIN_E_PIN_SYNTAX, "character '!' at offset 12 is not base64"},
    {"quoted pin is refused", "\"sha256/" B64 "\"", 0, CERTPIN_E_PIN_ALGORITHM,
     "no algorithm prefix"},
    {"hex digest is refused",
     "sha256/ec7229a9cb64200ab6638f68ac538e40abab5b19a6485661042a1061c4612776", 0,
     CERTPIN_E_PIN_SYNTAX, "pins are base64, not hex"},
    /* padding */
    {"missing padding is refused", "sha256/7HIpactkIAq2Y49orFOOQKurWxmmSFZhBCoQYcRhJ3Y", 0,
     CERTPIN_E_PIN_SYNTAX, "missing '=' padding"},
    {"extra padding is refused", "sha256/" B64 "=", 0, CERTPIN_E_PIN_SYNTAX, "extra '=' padding"},
    {"three padding characters are refused", "sha256/" B64 "==", 0, CERTPIN_E_PIN_SYNTAX,
     "3 '=' padding characters"},
    {"padding in the middle is refused", "sha256/7HIp=ctkIAq2Y49orFOOQKurWxmmSFZhBCoQYcRhJ3Y=", 0,
     CERTPIN_E_PIN_SYNTAX, "'=' at offset 11 inside the base64"},
    {"non-canonical last character is refused",
     "sha256/7HIpactkIAq2Y49orFOOQKurWxmmSFZhBCoQYcRhJ3Z=", 0, CERTPIN_E_PIN_SYNTAX,
     "non-canonical base64 padding"},
    /* length */
    {"31 bytes are refused", "sha256/AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg==", 0,
     CERTPIN_E_PIN_SYNTAX, "decodes to 31 bytes, a SHA-256 pin has 32"},
    {"33 bytes are refused", "sha256/AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g", 0,
     CERTPIN_E_PIN_SYNTAX, "decodes to 33 bytes, a SHA-256 pin has 32"},
    {"a SHA-1 hash under sha256/ is refused", "sha256/" SHA1_B64, 0, CERTPIN_E_PIN_SYNTAX,
     "decodes to 20 bytes, a SHA-256 pin has 32"},
    {"a truncated hash is refused", "sha256/7HIpactkIAq2Y49orFOOQKurWxmmSFZhBCoQY", 0,
     CERTPIN_E_PIN_SYNTAX, "cannot be decoded"},
    {"empty pin is refused", "", 0, CERTPIN_E_PIN_SYNTAX, "empty pin"},
    {"prefix only is refused", "sha256/", 0, CERTPIN_E_PIN_SYNTAX, "nothing after 'sha256/'"},
    {"cert prefix only is refused", "cert-sha256/", 0, CERTPIN_E_PIN_SYNTAX,
     "nothing after 'cert-sha256/'"},
    {"algorithm without slash is refused", "sha256", 0, CERTPIN_E_PIN_ALGORITHM,
     "no algorithm prefix"},
    {"long input is refused",
     "sha256/"
     "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
     "AAA"
     "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
     "AAA"
     "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
     "AAA",
     0, CERTPIN_E_PIN_SYNTAX, "pin is 295 bytes long"},
    /* whitespace and control bytes */
    {"space inside is refused", "sha256/7HIpa tkIAq2Y49orFOOQKurWxmmSFZhBCoQYcRhJ3Y=", 0,
     CERTPIN_E_PIN_SYNTAX, "whitespace inside pin at offset 12"},
    {"trailing newline is refused", "sha256/" B64 "\n", 0, CERTPIN_E_PIN_SYNTAX,
     "whitespace inside pin at offset 51"},
    {"CRLF is refused", "sha256/" B64 "\r\n", 0, CERTPIN_E_PIN_SYNTAX,
     "whitespace inside pin at offset 51"},
    {"leading space is refused", " sha256/" B64, 0, CERTPIN_E_PIN_SYNTAX,
     "whitespace inside pin at offset 0"},
    {"tab after the prefix is refused", "sha256/\t" B64, 0, CERTPIN_E_PIN_SYNTAX,
     "whitespace inside pin at offset 7"},
    {"newline inside is refused", "sha256/7HIpactkIAq2Y49orFOOQKu\nrWxmmSFZhBCoQYcRhJ3Y=", 0,
     CERTPIN_E_PIN_SYNTAX, "whitespace inside pin at offset 30"},
    {"embedded NUL is refused", "sha256/7HIp\0ctkIAq2Y49orFOOQKurWxmmSFZhBCoQYcRhJ3Y=", 51,
     CERTPIN_E_PIN_SYNTAX, "NUL byte at offset 11"},
    {"terminating NUL counted in len is refused", "sha256/" B64, 52, CERTPIN_E_PIN_SYNTAX,
     "NUL byte at offset 51"},
    {"non-ASCII byte is refused", "sha256/\xc3\xa9HIpactkIAq2Y49orFOOQKurWxmmSFZhBCoQYcRhJ3Y=", 0,
     CERTPIN_E_PIN_SYNTAX, "byte 0xc3 at offset 7"},
    {"control byte is refused", "sha256/\x01" B64, 0, CERTPIN_E_PIN_SYNTAX,
     "byte 0x01 at offset 7"},
};

static void every_refused_form_has_its_error(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof bad_pins / sizeof bad_pins[0]; i++) {
		const struct bad_pin *b = &bad_pins[i];
		size_t len = b->len ? b->len : strlen(b->text);
		certpin_pin pin;
		memset(&pin, 0xa5, sizeof pin);
		certpin_error err;
		certpin_err rc = certpin_pin_parse(b->text, len, &pin, &err);
		if (rc != b->code)
			fail_msg("%s: got code %d, expected %d (%s)", b->what, (int)rc,
			         (int)b->code, err.message);
		assert_int_equal(err.code, b->code);
		if (strstr(err.message, b->message) == NULL)
			fail_msg("%s: message \"%s\" lacks \"%s\"", b->what, err.message,
			         b->message);
		/* fail closed: nothing usable is left in *out */
		assert_int_equal(pin.type, 0);
		/* the same result without an error object */
		assert_int_equal(certpin_pin_parse(b->text, len, &pin, NULL), b->code);
	}
}

static void null_arguments_are_invalid(void **state)
{
	(void)state;
	certpin_pin pin;
	certpin_error err;
	assert_int_equal(certpin_pin_parse(NULL, 3, &pin, &err), CERTPIN_E_INVALID_ARG);
	assert_int_equal(certpin_pin_parse("sha256/" B64, 51, NULL, &err), CERTPIN_E_INVALID_ARG);
	char buf[CERTPIN_PIN_STRLEN];
	assert_int_equal(certpin_pin_format(NULL, buf, sizeof buf), 0);
	assert_int_equal(certpin_pin_format(&pin, NULL, 100), 0);
	assert_int_equal(certpin_pin_equal(NULL, &pin), 0);
	uint8_t der[2] = {0x30, 0x00};
	assert_int_equal(certpin_pin_spki_from_cert_der(NULL, 2, &pin), CERTPIN_E_INVALID_ARG);
	assert_int_equal(certpin_pin_spki_from_cert_der(der, 2, NULL), CERTPIN_E_INVALID_ARG);
	assert_int_equal(certpin_pin_cert_from_cert_der(NULL, 2, &pin), CERTPIN_E_INVALID_ARG);
	assert_int_equal(certpin_pin_spki_from_spki_der(der, 2, NULL), CERTPIN_E_INVALID_ARG);
}

/* ---- format -------------------------------------------------------------- */

static uint32_t lcg_state = 12345;
static uint8_t lcg_byte(void)
{
	lcg_state = lcg_state * 1103515245u + 12345u;
	return (uint8_t)(lcg_state >> 16);
}

static void format_then_parse_round_trips_for_both_types(void **state)
{
	(void)state;
	const certpin_pin_type types[] = {CERTPIN_PIN_SPKI_SHA256, CERTPIN_PIN_CERT_SHA256};
	for (int round = 0; round < 500; round++) {
		certpin_pin p, q;
		memset(&p, 0, sizeof p);
		p.type = types[round % 2];
		for (size_t i = 0; i < 32; i++)
			p.hash[i] = lcg_byte();
		char buf[CERTPIN_PIN_STRLEN];
		size_t n = certpin_pin_format(&p, buf, sizeof buf);
		assert_int_equal(n, p.type == CERTPIN_PIN_SPKI_SHA256 ? 51 : 56);
		assert_int_equal(strlen(buf), n);
		certpin_error err;
		if (certpin_pin_parse(buf, n, &q, &err) != CERTPIN_OK)
			fail_msg("%s: %s", buf, err.message);
		assert_true(certpin_pin_equal(&p, &q));
	}
}

static void format_refuses_small_buffers_and_bad_types(void **state)
{
	(void)state;
	certpin_pin p;
	assert_int_equal(certpin_pin_parse("cert-sha256/" B64, 56, &p, NULL), CERTPIN_OK);
	char buf[CERTPIN_PIN_STRLEN];
	assert_int_equal(certpin_pin_format(&p, buf, 56), 0); /* no room for the NUL */
	assert_string_equal(buf, "");
	assert_int_equal(certpin_pin_format(&p, buf, 0), 0);
	assert_int_equal(certpin_pin_format(&p, buf, 57), 56);
	assert_string_equal(buf, "cert-sha256/" B64);
	p.type = CERTPIN_PIN_SPKI_SHA256;
	assert_int_equal(certpin_pin_format(&p, buf, 52), 51);
	assert_string_equal(buf, "sha256/" B64);
	p.type = (certpin_pin_type)0;
	assert_int_equal(certpin_pin_format(&p, buf, sizeof buf), 0);
	assert_string_equal(buf, "");
	p.type = (certpin_pin_type)3;
	assert_int_equal(certpin_pin_format(&p, buf, sizeof buf), 0);
}

static void equal_compares_type_and_hash(void **state)
{
	(void)state;
	certpin_pin a, b;
	assert_int_equal(certpin_pin_parse("sha256/" B64, 51, &a, NULL), CERTPIN_OK);
	assert_int_equal(certpin_pin_parse("cert-sha256/" B64, 56, &b, NULL), CERTPIN_OK);
	assert_false(certpin_pin_equal(&a, &b)); /* same hash, other type */
	b.type = CERTPIN_PIN_SPKI_SHA256;
	assert_true(certpin_pin_equal(&a, &b));
	b.hash[31] ^= 1;
	assert_false(certpin_pin_equal(&a, &b));
	/* pins that failed to parse never match, not even each other */
	certpin_pin z1, z2;
	assert_int_not_equal(certpin_pin_parse("sha1/x", 6, &z1, NULL), CERTPIN_OK);
	assert_int_not_equal(certpin_pin_parse("sha1/x", 6, &z2, NULL), CERTPIN_OK);
	assert_false(certpin_pin_equal(&z1, &z2));
}

/* ---- base64 ------------------------------------------------------------ */

static void base64_encodes_rfc4648_vectors(void **state)
{
	(void)state;
	static const char *const in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
	static const char *const out[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
	                                  "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
	for (size_t i = 0; i < 7; i++) {
		char buf[16];
		size_t n = cp_b64_encode((const uint8_t *)in[i], strlen(in[i]), buf);
		assert_int_equal(n, strlen(out[i]));
		assert_string_equal(buf, out[i]);
		uint8_t dec[16];
		const char *why = NULL;
		assert_int_equal(cp_b64_decode_strict(out[i], n, dec, sizeof dec, &why),
		                 strlen(in[i]));
		assert_memory_equal(dec, in[i], strlen(in[i]));
	}
}

static void base64_strict_decoder_refuses_noncanonical_input(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		const char *why;
	} bad[] = {
	    {"Zg=", "multiple of 4"},  {"Zg", "multiple of 4"},
	    {"Zh==", "non-canonical"}, {"Zm9=", "non-canonical"},
	    {"Z===", "too much"},      {"====", "too much"},
	    {"Zg=a", "'=' inside"},    {"Zm 9", "whitespace"},
	    {"Zm\n9", "whitespace"},   {"Zm-9", "URL-safe"},
	    {"Zm_9", "URL-safe"},      {"Zm!9", "outside the base64 alphabet"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		uint8_t out[8];
		const char *why = NULL;
		size_t n =
		    cp_b64_decode_strict(bad[i].in, strlen(bad[i].in), out, sizeof out, &why);
		if (n != (size_t)-1)
			fail_msg("\"%s\" was accepted", bad[i].in);
		assert_non_null(why);
		if (strstr(why, bad[i].why) == NULL)
			fail_msg("\"%s\": reason \"%s\" lacks \"%s\"", bad[i].in, why, bad[i].why);
	}
	uint8_t out[2];
	const char *why = NULL;
	assert_int_equal(cp_b64_decode_strict("Zm9v", 4, out, 2, &why), (size_t)-1);
	assert_non_null(strstr(why, "more bytes"));
	assert_int_equal(cp_b64_decode_strict("Zm8=", 4, out, 2, NULL), 2);
}

/* The decoder's byte table agrees with the alphabet at every position of a quad. */
static void base64_decoder_reads_every_byte_as_the_alphabet_says(void **state)
{
	(void)state;
	static const char alphabet[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	for (unsigned c = 0; c < 256; c++) {
		const char *hit = memchr(alphabet, (int)c, 64);
		for (unsigned pos = 0; pos < 4; pos++) {
			char in[4] = {'A', 'A', 'A', 'A'};
			in[pos] = (char)c;
			uint8_t out[3];
			const char *why = NULL;
			size_t n = cp_b64_decode_strict(in, 4, out, sizeof out, &why);
			if (hit != NULL) {
				/* "AAAA" with one character of value v at pos */
				uint32_t v = (uint32_t)(hit - alphabet) << (18 - 6 * pos);
				assert_int_equal(n, 3);
				assert_int_equal(out[0], (uint8_t)(v >> 16));
				assert_int_equal(out[1], (uint8_t)(v >> 8));
				assert_int_equal(out[2], (uint8_t)v);
			} else if (c == '=' && pos == 3) {
				assert_int_equal(n, 2); /* "AAA=" */
			} else {
				if (n != (size_t)-1)
					fail_msg("byte 0x%02x at %u was accepted", c, pos);
				assert_non_null(why);
			}
		}
	}
}

/* ---- SHA-256 ----------------------------------------------------------- */

static void evp_sha256(const uint8_t *p, size_t n, uint8_t out[32])
{
	unsigned int len = 0;
	assert_true(EVP_Digest(p, n, out, &len, EVP_sha256(), NULL));
	assert_int_equal(len, 32);
}

static void sha256_matches_known_answers(void **state)
{
	(void)state;
	static const uint8_t abc[32] = {
	    0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40,
	    0xde, 0x5d, 0xae, 0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17,
	    0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad,
	};
	static const uint8_t empty[32] = {
	    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4,
	    0xc8, 0x99, 0x6f, 0xb9, 0x24, 0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b,
	    0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
	};
	uint8_t out[32];
	assert_int_equal(cp_sha256((const uint8_t *)"abc", 3, out), 0);
	assert_memory_equal(out, abc, 32);
	assert_int_equal(cp_sha256(NULL, 0, out), 0);
	assert_memory_equal(out, empty, 32);
	/* the per-thread context is reused: hash again, then something large */
	assert_int_equal(cp_sha256((const uint8_t *)"abc", 3, out), 0);
	assert_memory_equal(out, abc, 32);
	size_t big = 1u << 20;
	uint8_t *buf = malloc(big);
	assert_non_null(buf);
	for (size_t i = 0; i < big; i++)
		buf[i] = (uint8_t)(i * 7u);
	uint8_t want[32];
	evp_sha256(buf, big, want);
	assert_int_equal(cp_sha256(buf, big, out), 0);
	assert_memory_equal(out, want, 32);
	free(buf);
	assert_int_equal(cp_sha256(NULL, 1, out), -1);
}

struct hash_job {
	int id;
	int failures;
};

static void *hash_thread(void *arg)
{
	struct hash_job *job = arg;
	uint8_t data[300], out[32], want[32];
	for (int round = 0; round < 2000; round++) {
		size_t n = (size_t)(round % 300);
		for (size_t i = 0; i < n; i++)
			data[i] = (uint8_t)(job->id * 31 + round + (int)i);
		unsigned int len = 0;
		if (!EVP_Digest(data, n, want, &len, EVP_sha256(), NULL) ||
		    cp_sha256(data, n, out) != 0 || memcmp(out, want, 32) != 0)
			job->failures++;
	}
	return NULL;
}

static void sha256_is_correct_from_many_threads(void **state)
{
	(void)state;
	enum { N = 6 };
	pthread_t t[N];
	struct hash_job jobs[N];
	for (int i = 0; i < N; i++) {
		jobs[i].id = i;
		jobs[i].failures = 0;
		assert_int_equal(pthread_create(&t[i], NULL, hash_thread, &jobs[i]), 0);
	}
	for (int i = 0; i < N; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(jobs[i].failures, 0);
	}
}

/* ---- pins from DER ------------------------------------------------------ */

static void pin_text(const certpin_pin *p, char out[CERTPIN_PIN_STRLEN])
{
	assert_int_not_equal(certpin_pin_format(p, out, CERTPIN_PIN_STRLEN), 0);
}

static void trustkit_vectors_match(void **state)
{
	(void)state;
	size_t len;
	uint8_t *tsv = tu_read_file(tu_testdata("trustkit-vectors/pins.tsv"), &len);
	char *text = malloc(len + 1);
	assert_non_null(text);
	memcpy(text, tsv, len);
	text[len] = '\0';
	free(tsv);
	int rows = 0;
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		if (line[0] == '#' || line[0] == '\0')
			continue;
		char *tab1 = strchr(line, '\t');
		char *tab2 = tab1 ? strchr(tab1 + 1, '\t') : NULL;
		assert_non_null(tab2);
		*tab1 = '\0';
		char *pin_b64 = tab2 + 1;
		size_t pl = strlen(pin_b64);
		if (pl > 0 && pin_b64[pl - 1] == '\r')
			pin_b64[--pl] = '\0';

		char rel[300];
		snprintf(rel, sizeof rel, "trustkit-vectors/%s", line);
		size_t dlen;
		uint8_t *der = tu_read_file(tu_testdata(rel), &dlen);
		certpin_pin pin;
		assert_int_equal(certpin_pin_spki_from_cert_der(der, dlen, &pin), CERTPIN_OK);
		char got[CERTPIN_PIN_STRLEN], want[80];
		pin_text(&pin, got);
		snprintf(want, sizeof want, "sha256/%s", pin_b64);
		if (strcmp(got, want) != 0)
			fail_msg("%s: got %s, expected %s", line, got, want);
		certpin_pin parsed;
		assert_int_equal(certpin_pin_parse(want, strlen(want), &parsed, NULL), CERTPIN_OK);
		assert_true(certpin_pin_equal(&pin, &parsed));
		free(der);
		rows++;
	}
	free(text);
	assert_true(rows >= 5);
}

static const struct {
	enum tu_key_type type;
	const char *name;
} key_types[] = {
    {TU_RSA2048, "RSA-2048"}, {TU_RSA3072, "RSA-3072"}, {TU_P256, "P-256"},  {TU_P384, "P-384"},
    {TU_P521, "P-521"},       {TU_ED25519, "Ed25519"},  {TU_ED448, "Ed448"},
};

static void spki_pins_of_every_key_type_match_openssl(void **state)
{
	(void)state;
	int64_t now = (int64_t)time(NULL);
	for (size_t i = 0; i < sizeof key_types / sizeof key_types[0]; i++) {
		EVP_PKEY *key = tu_key(key_types[i].type);
		X509 *x = tu_cert(key, "pin.test", NULL, NULL, 0, "DNS:pin.test", now - 3600,
		                  now + 86400);
		size_t dlen, slen;
		uint8_t *der = tu_der(x, &dlen);
		uint8_t *spki = tu_spki_der(key, &slen);

		certpin_pin from_cert, from_spki;
		assert_int_equal(certpin_pin_spki_from_cert_der(der, dlen, &from_cert), CERTPIN_OK);
		assert_int_equal(certpin_pin_spki_from_spki_der(spki, slen, &from_spki),
		                 CERTPIN_OK);
		char text[CERTPIN_PIN_STRLEN];
		pin_text(&from_cert, text);
		if (strcmp(text, tu_spki_pin_text(key)) != 0)
			fail_msg("%s: %s != %s", key_types[i].name, text, tu_spki_pin_text(key));
		assert_true(certpin_pin_equal(&from_cert, &from_spki));

		/* whole-certificate pin: SHA-256 of the DER */
		certpin_pin cert_pin;
		uint8_t want[32];
		evp_sha256(der, dlen, want);
		assert_int_equal(certpin_pin_cert_from_cert_der(der, dlen, &cert_pin), CERTPIN_OK);
		assert_int_equal(cert_pin.type, CERTPIN_PIN_CERT_SHA256);
		assert_memory_equal(cert_pin.hash, want, 32);
		assert_false(certpin_pin_equal(&cert_pin, &from_cert));

		free(spki);
		free(der);
		X509_free(x);
		EVP_PKEY_free(key);
	}
}

static void der_functions_refuse_the_wrong_object(void **state)
{
	(void)state;
	int64_t now = (int64_t)time(NULL);
	EVP_PKEY *key = tu_key(TU_P256);
	X509 *x = tu_cert(key, "pin.test", NULL, NULL, 0, NULL, now - 3600, now + 86400);
	size_t dlen, slen;
	uint8_t *der = tu_der(x, &dlen);
	uint8_t *spki = tu_spki_der(key, &slen);
	certpin_pin pin;

	/* a certificate is one SEQUENCE too, but not an SPKI */
	assert_int_equal(certpin_pin_spki_from_spki_der(der, dlen, &pin), CERTPIN_E_DER);
	assert_int_equal(pin.type, 0);
	assert_int_equal(certpin_pin_spki_from_cert_der(spki, slen, &pin), CERTPIN_E_DER);
	assert_int_equal(certpin_pin_cert_from_cert_der(spki, slen, &pin), CERTPIN_E_DER);
	/* truncated, and with a trailing byte */
	assert_int_equal(certpin_pin_spki_from_spki_der(spki, slen - 1, &pin), CERTPIN_E_DER);
	assert_int_equal(certpin_pin_cert_from_cert_der(der, dlen - 1, &pin), CERTPIN_E_DER);
	uint8_t *longer = malloc(dlen + 1);
	assert_non_null(longer);
	memcpy(longer, der, dlen);
	longer[dlen] = 0;
	assert_int_equal(certpin_pin_cert_from_cert_der(longer, dlen + 1, &pin), CERTPIN_E_DER);
	assert_int_equal(certpin_pin_spki_from_cert_der(longer, dlen + 1, &pin), CERTPIN_E_DER);
	free(longer);
	uint8_t *spki2 = malloc(slen + 1);
	assert_non_null(spki2);
	memcpy(spki2, spki, slen);
	spki2[slen] = 0;
	assert_int_equal(certpin_pin_spki_from_spki_der(spki2, slen + 1, &pin), CERTPIN_E_DER);
	free(spki2);
	assert_int_equal(certpin_pin_spki_from_spki_der(spki, 0, &pin), CERTPIN_E_DER);
	assert_int_equal(certpin_pin_spki_from_cert_der(der, 0, &pin), CERTPIN_E_DER);

	free(spki);
	free(der);
	X509_free(x);
	EVP_PKEY_free(key);
}

static void sha256_with_thread_context_matches_one_shot(void **state)
{
	(void)state;
	static const uint8_t msg[] = "certpin";
	/* SHA-256("certpin") computed independently with OpenSSL's EVP_Digest */
	uint8_t want[32], got[32], one[32];
	unsigned int wl = 0;
	assert_true(EVP_Digest(msg, sizeof msg - 1, want, &wl, EVP_sha256(), NULL));
	cp_sha256_ctx *ctx = cp_sha256_ctx_get();
	assert_non_null(ctx);
	assert_ptr_equal(cp_sha256_ctx_get(), ctx); /* one per thread */
	assert_int_equal(cp_sha256_with(ctx, msg, sizeof msg - 1, got), 0);
	assert_memory_equal(got, want, 32);
	assert_int_equal(cp_sha256(msg, sizeof msg - 1, one), 0);
	assert_memory_equal(one, want, 32);
	/* reuse after another hash on the same context */
	assert_int_equal(cp_sha256_with(ctx, msg, sizeof msg - 1, got), 0);
	assert_memory_equal(got, want, 32);
	/* a missing context fails closed: -1 and a zeroed output */
	static const uint8_t zero[32];
	assert_int_equal(cp_sha256_with(NULL, msg, sizeof msg - 1, got), -1);
	assert_memory_equal(got, zero, 32);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(valid_pins_parse),
	    cmocka_unit_test(parse_reads_only_len_bytes),
	    cmocka_unit_test(every_refused_form_has_its_error),
	    cmocka_unit_test(null_arguments_are_invalid),
	    cmocka_unit_test(format_then_parse_round_trips_for_both_types),
	    cmocka_unit_test(format_refuses_small_buffers_and_bad_types),
	    cmocka_unit_test(equal_compares_type_and_hash),
	    cmocka_unit_test(base64_encodes_rfc4648_vectors),
	    cmocka_unit_test(base64_strict_decoder_refuses_noncanonical_input),
	    cmocka_unit_test(base64_decoder_reads_every_byte_as_the_alphabet_says),
	    cmocka_unit_test(sha256_matches_known_answers),
	    cmocka_unit_test(sha256_is_correct_from_many_threads),
	    cmocka_unit_test(trustkit_vectors_match),
	    cmocka_unit_test(spki_pins_of_every_key_type_match_openssl),
	    cmocka_unit_test(der_functions_refuse_the_wrong_object),
	    cmocka_unit_test(sha256_with_thread_context_matches_one_shot),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
