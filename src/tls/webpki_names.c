/*
 * The backend-neutral parts of the webpki profile (docs/webpki.md): host
 * name syntax and the public-suffix wildcard rule, shared by the OpenSSL
 * rules (src/tls/webpki_openssl.c) and the mbedTLS adapter
 * (src/tls/mbedtls.c) so both builds judge names the same way.
 */
#include <libpsl.h>
#include <string.h>

#include "internal.h"

int cp_webpki_dns_syntax_ok(const unsigned char *s, size_t len, int allow_wildcard)
{
	if (len == 0 || len > 253)
		return 0;
	size_t i = 0;
	if (allow_wildcard && len > 2 && s[0] == '*' && s[1] == '.')
		i = 2;
	size_t label = 0;
	for (; i <= len; i++) {
		if (i == len || s[i] == '.') {
			if (label == 0 || label > 63 || s[i - 1] == '-' || s[i - label] == '-')
				return 0;
			label = 0;
			continue;
		}
		unsigned char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-'))
			return 0;
		label++;
	}
	return 1;
}

int cp_webpki_wildcard_over_public_suffix(const char *host)
{
	const char *parent = strchr(host, '.');
	if (parent == NULL || parent[1] == '\0')
		return 0;
	/*
	 * The compiled-in list: no file I/O or allocation per check. Without
	 * it no wildcard match can be vouched for: fail closed.
	 */
	const psl_ctx_t *psl = psl_builtin();
	return psl == NULL ||
	       psl_is_public_suffix2(psl, parent + 1, PSL_TYPE_ANY | PSL_TYPE_NO_STAR_RULE);
}
