/*
 * Target: certpin_pin_parse (pin strings from policies, CLI arguments and
 * imported files) and the strict base64 decoder under it.
 * Invariants: a pin that parses formats back to exactly the input text
 * (one spelling per pin); a refused pin has a PIN_* code, an error object
 * with the same code and a one-line message, and a zeroed output; a base64
 * string that decodes strictly re-encodes to itself.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	certpin_pin pin;
	certpin_error err;
	certpin_err rc = certpin_pin_parse(s, size, &pin, &err);
	if (rc == CERTPIN_OK) {
		char buf[CERTPIN_PIN_STRLEN];
		size_t n = certpin_pin_format(&pin, buf, sizeof buf);
		if (n == 0 || n != size || memcmp(buf, s, size) != 0 || buf[n] != '\0')
			abort();
		certpin_pin again;
		if (certpin_pin_parse(buf, n, &again, NULL) != CERTPIN_OK ||
		    !certpin_pin_equal(&pin, &again))
			abort();
	} else {
		if (rc != CERTPIN_E_PIN_SYNTAX && rc != CERTPIN_E_PIN_ALGORITHM)
			abort();
		if (err.code != rc || err.message[0] == '\0')
			abort();
		size_t ml = strnlen(err.message, sizeof err.message);
		if (ml == sizeof err.message)
			abort(); /* not NUL-terminated */
		for (size_t i = 0; i < ml; i++)
			if ((unsigned char)err.message[i] < 0x20)
				abort(); /* one line */
		if (pin.type != 0)
			abort();
		if (certpin_pin_parse(s, size, &pin, NULL) != rc)
			abort();
	}

	/* the strict base64 decoder alone: what it accepts is canonical */
	static uint8_t dec[4096];
	static char enc[4096 / 3 * 4 + 8];
	const char *why = NULL;
	size_t dn = cp_b64_decode_strict(s, size, dec, sizeof dec, &why);
	if (dn != (size_t)-1) {
		if (dn > sizeof dec || why != NULL)
			abort();
		size_t en = cp_b64_encode(dec, dn, enc);
		if (en != size || memcmp(enc, s, size) != 0)
			abort();
	} else if (why == NULL) {
		abort();
	}
	return 0;
}
