/* Error codes, their messages (one table) and the error object helpers. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

static const char *const error_text[] = {
	[CERTPIN_OK] = "success",
	[CERTPIN_E_INVALID_ARG] = "invalid argument",
	[CERTPIN_E_NOMEM] = "out of memory",
	[CERTPIN_E_IO] = "cannot read file",
	[CERTPIN_E_TOO_LARGE] = "input exceeds a limit",
	[CERTPIN_E_JSON] = "JSON syntax error",
	[CERTPIN_E_SCHEMA] = "invalid policy",
	[CERTPIN_E_PIN_SYNTAX] = "malformed pin",
	[CERTPIN_E_PIN_ALGORITHM] = "unsupported pin algorithm",
	[CERTPIN_E_HOST] = "invalid host name",
	[CERTPIN_E_DUPLICATE] = "duplicate host rule",
	[CERTPIN_E_DER] = "malformed DER certificate",
	[CERTPIN_E_KEY_FILE] = "no usable certificate or key",
	[CERTPIN_E_STRICT] = "warning treated as error",
	[CERTPIN_E_TIME] = "malformed date or time",
	[CERTPIN_E_BUFFER] = "buffer too small",
	[CERTPIN_E_INTERNAL] = "internal error",
	[CERTPIN_E_PASSWORD] = "wrong or missing password",
	[CERTPIN_E_BUNDLE] = "malformed pin bundle",
	[CERTPIN_E_SIGNATURE] = "bundle signature not valid",
	[CERTPIN_E_EXPIRED] = "bundle expired",
	[CERTPIN_E_AUDIENCE] = "bundle for another application",
	[CERTPIN_E_TIMEOUT] = "deadline passed",
};

const char *certpin_strerror(certpin_err code)
{
	size_t i = (size_t)code;
	if (i < sizeof error_text / sizeof error_text[0] && error_text[i] != NULL)
		return error_text[i];
	return "unknown error";
}

const char *certpin_version(void)
{
	return CERTPIN_VERSION_STRING;
}

void cp_strlcpy(char *dst, const char *src, size_t n)
{
	if (n == 0)
		return;
	size_t len = strnlen(src, n - 1);
	memcpy(dst, src, len);
	dst[len] = '\0';
}

/* Keeps messages to one line: control characters become spaces. */
static void one_line(char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s == 0x7f)
			*s = ' ';
}

certpin_err cp_err_set(certpin_error *err, certpin_err code, const char *fmt, ...)
{
	if (err == NULL)
		return code;
	memset(err, 0, sizeof *err);
	err->code = code;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof err->message, fmt, ap);
	va_end(ap);
	one_line(err->message);
	return code;
}

void cp_err_prefix_path(certpin_error *err, const char *fmt, ...)
{
	if (err == NULL)
		return;
	char prefix[sizeof err->path];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof prefix, fmt, ap);
	va_end(ap);
	/* joined = prefix [+ "." unless old path starts with "["] + old path, truncated */
	char joined[sizeof err->path];
	size_t plen = strnlen(prefix, sizeof prefix);
	size_t olen = strnlen(err->path, sizeof err->path);
	size_t sep = (olen > 0 && err->path[0] != '[') ? 1 : 0;
	size_t o = 0;
	memcpy(joined, prefix, plen);
	o = plen;
	if (sep && o + 1 < sizeof joined)
		joined[o++] = '.';
	size_t room = sizeof joined - 1 - o;
	size_t k = olen < room ? olen : room;
	memcpy(joined + o, err->path, k);
	joined[o + k] = '\0';
	memcpy(err->path, joined, sizeof err->path);
}

size_t certpin_error_format(const certpin_error *err, char *buf, size_t n)
{
	if (err == NULL)
		return 0;
	char pos[64] = "";
	if (err->line != 0 && err->column != 0)
		snprintf(pos, sizeof pos, "%u:%u:", err->line, err->column);
	else if (err->line != 0)
		snprintf(pos, sizeof pos, "%u:", err->line);
	int len = snprintf(buf, n, "%s%s%s%s%s%s%s", err->file, err->file[0] ? ":" : "", pos,
	                   (err->file[0] || pos[0]) ? " " : "", err->path,
	                   err->path[0] ? ": " : "",
	                   err->message[0] ? err->message : certpin_strerror(err->code));
	return len < 0 ? 0 : (size_t)len;
}

/* Length of the longest prefix of s[0..n) that does not end inside a UTF-8 sequence. */
size_t cp_utf8_cut(const char *s, size_t n)
{
	size_t i = n;
	size_t back = 0;
	while (i > 0 && back < 4 && ((unsigned char)s[i - 1] & 0xc0) == 0x80) {
		i--;
		back++;
	}
	if (i == 0)
		return n;
	unsigned char lead = (unsigned char)s[i - 1];
	size_t need;
	if (lead < 0x80)
		return n; /* ends on ASCII (back is then 0) */
	else if ((lead & 0xe0) == 0xc0)
		need = 1;
	else if ((lead & 0xf0) == 0xe0)
		need = 2;
	else if ((lead & 0xf8) == 0xf0)
		need = 3;
	else
		return n; /* not UTF-8 at all: cut bytewise */
	return back >= need ? n : i - 1;
}

void cp_memzero(void *p, size_t n)
{
	if (p != NULL && n > 0)
		explicit_bzero(p, n);
}
