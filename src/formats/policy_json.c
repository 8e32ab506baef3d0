/*
 * Policy JSON loader (ARCHITECTURE.md, "Policy JSON").
 *
 * jansson parses and validates the text but keeps no positions, so a small
 * bounds-checked scanner walks the text to find the line:column of a JSON
 * path. The scanner never decides what is valid: it only looks at text that
 * jansson accepted (or it gives up, and the error has no position).
 *
 * A policy of 100,000 domains parsed as one jansson tree costs about 1 KiB
 * per domain, more than the policy itself. So the scanner splits the
 * "domains" array into its elements; jansson parses the rest of the document
 * with that array emptied, then each element on its own, and each element's
 * tree is freed once its rule is built. Every piece goes through jansson and
 * the scanner checks only the commas between elements, so the pieces are
 * valid exactly when the whole text is. When the scanner cannot split (the
 * text is not valid JSON, or "domains" is not an array), the whole text is
 * parsed as one tree instead.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

#define NPOS ((size_t)-1)
/* Hard cap on a policy given as text (a file is capped at 1 MiB). */
#define CP_MAX_POLICY_TEXT (64u * 1024u * 1024u)
/* Deepest JSON path the locator follows ($.domains[i].pins[j] is 4). */
#define CP_MAX_PATH_DEPTH 8

/* ---- scanner over valid JSON text --------------------------------------- */

static int is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static size_t sc_ws(const char *s, size_t n, size_t i)
{
	while (i < n && is_ws(s[i]))
		i++;
	return i;
}

/* End of the string starting at s[i] ('"'), or NPOS. */
static size_t sc_string(const char *s, size_t n, size_t i)
{
	if (i >= n || s[i] != '"')
		return NPOS;
	for (i++; i < n; i++) {
		if (s[i] == '\\')
			i++;
		else if (s[i] == '"')
			return i + 1;
	}
	return NPOS;
}

/* End of the value starting at s[i], or NPOS. */
static size_t sc_value(const char *s, size_t n, size_t i)
{
	if (i >= n)
		return NPOS;
	char c = s[i];
	if (c == '"')
		return sc_string(s, n, i);
	if (c == '{' || c == '[') {
		size_t depth = 0;
		while (i < n) {
			c = s[i];
			if (c == '"') {
				i = sc_string(s, n, i);
				if (i == NPOS)
					return NPOS;
				continue;
			}
			if (c == '{' || c == '[') {
				depth++;
			} else if (c == '}' || c == ']') {
				if (--depth == 0)
					return i + 1;
			}
			i++;
		}
		return NPOS;
	}
	size_t start = i;
	while (i < n && !is_ws(s[i]) && s[i] != ',' && s[i] != ':' && s[i] != '}' && s[i] != ']' &&
	       s[i] != '{' && s[i] != '[' && s[i] != '"')
		i++;
	return i > start ? i : NPOS;
}

static int hex4(const char *s, size_t n, size_t i, unsigned *out)
{
	if (n < 4 || i > n - 4)
		return 0;
	unsigned v = 0;
	for (size_t k = 0; k < 4; k++) {
		char c = s[i + k];
		unsigned d;
		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a') + 10u;
		else if (c >= 'A' && c <= 'F')
			d = (unsigned)(c - 'A') + 10u;
		else
			return 0;
		v = v * 16u + d;
	}
	*out = v;
	return 1;
}

static size_t utf8_put(unsigned cp, char out[4])
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xC0u | (cp >> 6));
		out[1] = (char)(0x80u | (cp & 0x3Fu));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xE0u | (cp >> 12));
		out[1] = (char)(0x80u | ((cp >> 6) & 0x3Fu));
		out[2] = (char)(0x80u | (cp & 0x3Fu));
		return 3;
	}
	out[0] = (char)(0xF0u | (cp >> 18));
	out[1] = (char)(0x80u | ((cp >> 12) & 0x3Fu));
	out[2] = (char)(0x80u | ((cp >> 6) & 0x3Fu));
	out[3] = (char)(0x80u | (cp & 0x3Fu));
	return 4;
}

/* 1 when the JSON string at s[i] decodes to want[0..wn). */
static int sc_key_equals(const char *s, size_t n, size_t i, const char *want, size_t wn)
{
	if (i >= n || s[i] != '"')
		return 0;
	size_t k = 0;
	i++;
	while (i < n) {
		char buf[4];
		size_t bl = 1;
		char c = s[i];
		if (c == '"')
			return k == wn;
		if (c != '\\') {
			buf[0] = c;
			i++;
		} else {
			if (i + 1 >= n)
				return 0;
			switch (s[i + 1]) {
			case '"':
			case '\\':
			case '/':
				buf[0] = s[i + 1];
				break;
			case 'b':
				buf[0] = '\b';
				break;
			case 'f':
				buf[0] = '\f';
				break;
			case 'n':
				buf[0] = '\n';
				break;
			case 'r':
				buf[0] = '\r';
				break;
			case 't':
				buf[0] = '\t';
				break;
			case 'u': {
				unsigned cp, lo;
				if (!hex4(s, n, i + 2, &cp))
					return 0;
				if (cp >= 0xD800u && cp <= 0xDBFFu) {
					if (i + 7 >= n || s[i + 6] != '\\' || s[i + 7] != 'u' ||
					    !hex4(s, n, i + 8, &lo) || lo < 0xDC00u || lo > 0xDFFFu)
						return 0;
					cp = 0x10000u + ((cp - 0xD800u) << 10) + (lo - 0xDC00u);
					i += 6;
				} else if (cp >= 0xDC00u && cp <= 0xDFFFu) {
					return 0;
				}
				bl = utf8_put(cp, buf);
				i += 4;
				break;
			}
			default:
				return 0;
			}
			i += 2;
		}
		if (bl > wn - k || memcmp(want + k, buf, bl) != 0)
			return 0;
		k += bl;
	}
	return 0;
}

/* Value of member key in the object at s[i] (and its key's position), or NPOS. */
static size_t sc_member(const char *s, size_t n, size_t i, const char *key, size_t klen,
                        size_t *key_pos)
{
	if (i >= n || s[i] != '{')
		return NPOS;
	i = sc_ws(s, n, i + 1);
	if (i < n && s[i] == '}')
		return NPOS;
	while (i < n) {
		size_t kp = i;
		int eq = sc_key_equals(s, n, i, key, klen);
		i = sc_string(s, n, i);
		if (i == NPOS)
			return NPOS;
		i = sc_ws(s, n, i);
		if (i >= n || s[i] != ':')
			return NPOS;
		i = sc_ws(s, n, i + 1);
		if (i >= n)
			return NPOS;
		if (eq) {
			if (key_pos != NULL)
				*key_pos = kp;
			return i;
		}
		i = sc_value(s, n, i);
		if (i == NPOS)
			return NPOS;
		i = sc_ws(s, n, i);
		if (i >= n || s[i] != ',')
			return NPOS;
		i = sc_ws(s, n, i + 1);
	}
	return NPOS;
}

/* Element idx of the array at s[i], or NPOS. */
static size_t sc_element(const char *s, size_t n, size_t i, size_t idx)
{
	if (i >= n || s[i] != '[')
		return NPOS;
	i = sc_ws(s, n, i + 1);
	for (size_t k = 0;; k++) {
		if (i >= n || s[i] == ']')
			return NPOS;
		if (k == idx)
			return i;
		i = sc_value(s, n, i);
		if (i == NPOS)
			return NPOS;
		i = sc_ws(s, n, i);
		if (i >= n || s[i] != ',')
			return NPOS;
		i = sc_ws(s, n, i + 1);
	}
}

/* One step of a JSON path: a key (key != NULL) or an array index. */
typedef struct jcomp {
	const char *key;
	size_t klen;
	size_t index;
} jcomp;

/*
 * Follows c[0..nc) from the value at s[i] and returns the position of the
 * deepest step found (its key when at_key and it is the last step): a path
 * to a missing member points at the object that lacks it.
 */
static size_t sc_locate(const char *s, size_t n, size_t i, const jcomp *c, size_t nc, int at_key,
                        size_t *found)
{
	size_t best = i;
	*found = 0;
	for (size_t k = 0; k < nc; k++) {
		size_t kp = NPOS, v;
		if (c[k].key != NULL)
			v = sc_member(s, n, i, c[k].key, c[k].klen, &kp);
		else
			v = sc_element(s, n, i, c[k].index);
		if (v == NPOS)
			break;
		best = (at_key && k + 1 == nc && kp != NPOS) ? kp : v;
		i = v;
		*found = k + 1;
	}
	return best;
}

/* Line and column counting as jansson does: '\n' ends a line and a column
 * is a character (the first byte of a UTF-8 sequence). */
typedef struct lc_pos {
	size_t off;
	unsigned line;
	unsigned col; /* characters before off on its line */
} lc_pos;

static int lead_byte(unsigned char c)
{
	return c < 0x80 || (c >= 0xC2 && c <= 0xF4);
}

static void lc_move(const char *s, size_t n, lc_pos *p, size_t off)
{
	if (off > n)
		off = n;
	if (off < p->off || p->line == 0) {
		p->off = 0;
		p->line = 1;
		p->col = 0;
	}
	for (size_t i = p->off; i < off; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\n') {
			p->line++;
			p->col = 0;
		} else if (lead_byte(c)) {
			p->col++;
		}
	}
	p->off = off;
}

/* Parses "$.domains[3].pins[0]" (keys of [A-Za-z0-9_] only) into steps. */
static size_t parse_path(const char *p, jcomp *c, size_t max)
{
	size_t nc = 0;
	if (*p == '$')
		p++;
	while (*p != '\0' && nc < max) {
		if (*p == '[') {
			size_t v = 0;
			p++;
			if (*p < '0' || *p > '9')
				break;
			while (*p >= '0' && *p <= '9') {
				if (v > (SIZE_MAX - 9) / 10)
					return nc;
				v = v * 10 + (size_t)(*p - '0');
				p++;
			}
			if (*p != ']')
				break;
			p++;
			c[nc].key = NULL;
			c[nc].klen = 0;
			c[nc].index = v;
			nc++;
			continue;
		}
		if (*p == '.')
			p++;
		const char *k = p;
		while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		       (*p >= '0' && *p <= '9') || *p == '_')
			p++;
		if (p == k)
			break;
		c[nc].key = k;
		c[nc].klen = (size_t)(p - k);
		c[nc].index = 0;
		nc++;
	}
	return nc;
}

/* ---- loader ------------------------------------------------------------- */

typedef struct span {
	size_t s, e;
} span;

typedef struct loader {
	const char *text;
	size_t len;
	certpin_error err;
	int split;        /* domains are parsed element by element */
	size_t arr_open;  /* '[' of the domains array */
	size_t arr_close; /* its ']' */
	span *spans;      /* the elements (at most CERTPIN_MAX_DOMAINS kept) */
	size_t spans_cap;
	size_t n_elems;    /* how many there are */
	const char **strs; /* scratch for a rule's string lists */
	size_t strs_cap;
	char *arena; /* scratch for the fast path's string copies */
	size_t arena_cap;
	int jansson_only; /* no fast path (the fuzz target compares both) */
} loader;

static void append(char *out, size_t n, size_t *at, const char *s, size_t len)
{
	while (len-- > 0 && *at + 1 < n)
		out[(*at)++] = *s++;
	out[*at] = '\0';
}

static int plain_key(const char *k, size_t n)
{
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = k[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

/* Writes "$.domains[2].pins[0]"; an unusual key is written ["k y"]. */
static void format_path(const jcomp *c, size_t nc, char *out, size_t n)
{
	size_t at = 0;
	out[0] = '\0';
	append(out, n, &at, "$", 1);
	for (size_t k = 0; k < nc; k++) {
		char num[32];
		if (c[k].key == NULL) {
			int len = snprintf(num, sizeof num, "[%zu]", c[k].index);
			append(out, n, &at, num, len > 0 ? (size_t)len : 0);
		} else if (plain_key(c[k].key, c[k].klen)) {
			append(out, n, &at, ".", 1);
			append(out, n, &at, c[k].key, c[k].klen);
		} else {
			append(out, n, &at, "[\"", 2);
			for (size_t i = 0; i < c[k].klen; i++) {
				unsigned char ch = (unsigned char)c[k].key[i];
				char x = (ch < 0x20 || ch == 0x7f || ch == '"' || ch == '\\')
				             ? '?'
				             : (char)ch;
				append(out, n, &at, &x, 1);
			}
			append(out, n, &at, "\"]", 2);
		}
	}
}

/* A value or key for a message: at most 40 bytes, no control characters. */
static const char *shown(const char *s, size_t n, char out[64])
{
	size_t k = n > 40 ? 40 : n;
	while (k < n && k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80)
		k--;
	for (size_t i = 0; i < k; i++) {
		unsigned char c = (unsigned char)s[i];
		out[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	if (k < n)
		memcpy(out + k, "...", 4);
	else
		out[k] = '\0';
	return out;
}

/* Position of path c[0..nc) in the text; *found says how many steps exist. */
static size_t locate_steps(const loader *L, const jcomp *c, size_t nc, int at_key, size_t *found)
{
	if (L->split && nc >= 2 && c[0].key != NULL && c[0].klen == 7 &&
	    memcmp(c[0].key, "domains", 7) == 0 && c[1].key == NULL && c[1].index < L->n_elems &&
	    c[1].index < CERTPIN_MAX_DOMAINS) {
		const span *sp = &L->spans[c[1].index];
		size_t off = sc_locate(L->text, sp->e, sp->s, c + 2, nc - 2, at_key, found);
		*found += 2;
		return off;
	}
	*found = 0;
	size_t root = sc_ws(L->text, L->len, 0);
	if (root >= L->len)
		return NPOS;
	return sc_locate(L->text, L->len, root, c, nc, at_key, found);
}

static size_t locate(const loader *L, const jcomp *c, size_t nc, int at_key)
{
	size_t found;
	return locate_steps(L, c, nc, at_key, &found);
}

static void set_position(loader *L, size_t off)
{
	if (off == NPOS || off > L->len) {
		L->err.line = 0;
		L->err.column = 0;
		return;
	}
	lc_pos p = {0, 1, 0};
	lc_move(L->text, L->len, &p, off);
	L->err.line = p.line;
	L->err.column = p.col + 1;
}

/* Gives the current error the path c[0..nc) and its position. */
static void place(loader *L, const jcomp *c, size_t nc, int at_key)
{
	format_path(c, nc, L->err.path, sizeof L->err.path);
	set_position(L, locate(L, c, nc, at_key));
}

/* Positions an error whose path came back as text (from the builder). */
static void place_by_path(loader *L)
{
	jcomp c[CP_MAX_PATH_DEPTH];
	size_t nc = parse_path(L->err.path, c, CP_MAX_PATH_DEPTH);
	set_position(L, locate(L, c, nc, 0));
}

static certpin_err fail(loader *L, certpin_err code, const jcomp *c, size_t nc, int at_key,
                        const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static certpin_err fail(loader *L, certpin_err code, const jcomp *c, size_t nc, int at_key,
                        const char *fmt, ...)
{
	char msg[sizeof L->err.message];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	cp_err_set(&L->err, code, "%s", msg);
	place(L, c, nc, at_key);
	return code;
}

/*
 * Parses buf[0..n) with jansson. On error the position is mapped back to
 * the original text: buf[k] is text[base + k], or text[base + k + gap] for
 * k >= gap_at (the emptied domains array).
 */
static certpin_err parse_piece(loader *L, const char *buf, size_t n, size_t flags, size_t base,
                               size_t gap_at, size_t gap, const jcomp *c, size_t nc, json_t **out)
{
	json_error_t je;
	*out = json_loadb(buf, n, flags | JSON_REJECT_DUPLICATES, &je);
	if (*out != NULL)
		return CERTPIN_OK;
	certpin_err code =
	    json_error_code(&je) == json_error_out_of_memory ? CERTPIN_E_NOMEM : CERTPIN_E_JSON;
	cp_err_set(&L->err, code, "%s", je.text);
	format_path(c, nc, L->err.path, sizeof L->err.path);
	if (nc == 0)
		L->err.path[0] = '\0';
	if (je.position >= 0 && (size_t)je.position <= n) {
		/* jansson's position counts the bytes it read; its line and
		 * column are those of the last one, so count the same way. */
		size_t k = (size_t)je.position;
		if (k > gap_at)
			k += gap;
		lc_pos p = {0, 1, 0};
		lc_move(L->text, L->len, &p, base + k);
		L->err.line = p.line;
		L->err.column = p.col != 0 ? p.col : 1;
	}
	return code;
}

/* Records element i of the domains array (only the first CERTPIN_MAX_DOMAINS). */
static certpin_err push_span(loader *L, size_t start, size_t end)
{
	if (L->n_elems < CERTPIN_MAX_DOMAINS) {
		if (L->n_elems == L->spans_cap) {
			size_t cap = L->spans_cap ? L->spans_cap * 2 : 64;
			if (cap > CERTPIN_MAX_DOMAINS)
				cap = CERTPIN_MAX_DOMAINS;
			span *v = realloc(L->spans, cap * sizeof *v);
			if (v == NULL)
				return cp_err_set(&L->err, CERTPIN_E_NOMEM, "out of memory");
			L->spans = v;
			L->spans_cap = cap;
		}
		L->spans[L->n_elems].s = start;
		L->spans[L->n_elems].e = end;
	}
	L->n_elems++;
	return CERTPIN_OK;
}

/*
 * Finds the elements of the top-level "domains" array. Leaves L->split 0
 * when the text does not look like a policy with such an array; jansson
 * then parses the whole text and says what is wrong with it.
 */
static certpin_err split_domains(loader *L)
{
	const char *s = L->text;
	size_t n = L->len;
	size_t root = sc_ws(s, n, 0);
	if (root >= n || s[root] != '{')
		return CERTPIN_OK;
	size_t v = sc_member(s, n, root, "domains", 7, NULL);
	if (v == NPOS || s[v] != '[')
		return CERTPIN_OK;
	size_t i = sc_ws(s, n, v + 1);
	L->n_elems = 0;
	if (i < n && s[i] != ']') {
		for (;;) {
			size_t e = sc_value(s, n, i);
			if (e == NPOS)
				return CERTPIN_OK;
			CP_GUARD(push_span(L, i, e));
			i = sc_ws(s, n, e);
			if (i >= n || s[i] == ']')
				break;
			if (s[i] != ',')
				return CERTPIN_OK;
			i = sc_ws(s, n, i + 1);
			if (i >= n || s[i] == ']')
				return CERTPIN_OK;
		}
	}
	if (i >= n)
		return CERTPIN_OK;
	L->arr_open = v;
	L->arr_close = i;
	L->split = 1;
	return CERTPIN_OK;
}

/* Parses the document (without the domains elements when split). */
static certpin_err parse_top(loader *L, json_t **root)
{
	if (!L->split)
		return parse_piece(L, L->text, L->len, 0, 0, 0, 0, NULL, 0, root);
	size_t head = L->arr_open + 1;
	size_t tail = L->len - L->arr_close;
	char *outer = malloc(head + tail);
	if (outer == NULL)
		return cp_err_set(&L->err, CERTPIN_E_NOMEM, "out of memory");
	memcpy(outer, L->text, head);
	memcpy(outer + head, L->text + L->arr_close, tail);
	certpin_err rc = parse_piece(L, outer, head + tail, 0, 0, head,
	                             L->arr_close - L->arr_open - 1, NULL, 0, root);
	free(outer);
	return rc;
}

static certpin_err parse_element(loader *L, size_t i, json_t **out)
{
	const span *sp = &L->spans[i];
	jcomp c[2] = {{"domains", 7, 0}, {NULL, 0, i}};
	return parse_piece(L, L->text + sp->s, sp->e - sp->s, JSON_DECODE_ANY, sp->s, NPOS, 0, c, 2,
	                   out);
}

/* ---- schema ------------------------------------------------------------- */

static const char *const top_keys[] = {"certpin", "unlisted_hosts", "validation", "domains"};
#define N_TOP_KEYS (sizeof top_keys / sizeof top_keys[0])

enum domain_key {
	K_HOST,
	K_INCLUDE_SUBDOMAINS,
	K_EXCLUDE,
	K_PINS,
	K_LEAF_PINS,
	K_CA_PINS,
	K_PIN_FILES,
	K_REPORT_URIS,
	K_EXPIRES,
	K_ON_EXPIRY,
	K_MODE,
	K_TRUST_ANCHORS,
	K_VALIDATION,
	N_DOMAIN_KEYS
};

static const char *const domain_keys[N_DOMAIN_KEYS] = {
    [K_HOST] = "host",
    [K_INCLUDE_SUBDOMAINS] = "include_subdomains",
    [K_EXCLUDE] = "exclude",
    [K_PINS] = "pins",
    [K_LEAF_PINS] = "leaf_pins",
    [K_CA_PINS] = "ca_pins",
    [K_PIN_FILES] = "pin_files",
    [K_REPORT_URIS] = "report_uris",
    [K_EXPIRES] = "expires",
    [K_ON_EXPIRY] = "on_expiry",
    [K_MODE] = "mode",
    [K_TRUST_ANCHORS] = "trust_anchors",
    [K_VALIDATION] = "validation",
};

static size_t find_key(const char *const *keys, size_t n, const char *k, size_t klen)
{
	for (size_t i = 0; i < n; i++)
		if (strlen(keys[i]) == klen && memcmp(keys[i], k, klen) == 0)
			return i;
	return n;
}

static char lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* Edit distance (ASCII case ignored), or SIZE_MAX for long strings. */
static size_t distance(const char *a, size_t na, const char *b, size_t nb)
{
	size_t prev[33], cur[33];
	if (na > 32 || nb > 32)
		return SIZE_MAX;
	for (size_t j = 0; j <= nb; j++)
		prev[j] = j;
	for (size_t i = 1; i <= na; i++) {
		cur[0] = i;
		for (size_t j = 1; j <= nb; j++) {
			size_t best = prev[j - 1] + (lower(a[i - 1]) != lower(b[j - 1]));
			if (prev[j] + 1 < best)
				best = prev[j] + 1;
			if (cur[j - 1] + 1 < best)
				best = cur[j - 1] + 1;
			cur[j] = best;
		}
		memcpy(prev, cur, (nb + 1) * sizeof prev[0]);
	}
	return prev[nb];
}

static certpin_err unknown_key(loader *L, const jcomp *c, size_t nc, const char *const *keys,
                               size_t nkeys)
{
	const char *key = c[nc - 1].key;
	size_t klen = c[nc - 1].klen;
	size_t best = nkeys, best_d = SIZE_MAX;
	for (size_t i = 0; i < nkeys; i++) {
		size_t d = distance(key, klen, keys[i], strlen(keys[i]));
		if (d < best_d) {
			best_d = d;
			best = i;
		}
	}
	char buf[64];
	if (best < nkeys && best_d <= (strlen(keys[best]) <= 4 ? 1u : 2u))
		return fail(L, CERTPIN_E_SCHEMA, c, nc, 1, "unknown key '%s' (did you mean '%s'?)",
		            shown(key, klen, buf), keys[best]);
	char allowed[256];
	size_t at = 0;
	allowed[0] = '\0';
	for (size_t i = 0; i < nkeys; i++) {
		if (i != 0)
			append(allowed, sizeof allowed, &at, ", ", 2);
		append(allowed, sizeof allowed, &at, keys[i], strlen(keys[i]));
	}
	return fail(L, CERTPIN_E_SCHEMA, c, nc, 1, "unknown key '%s' (allowed: %s)",
	            shown(key, klen, buf), allowed);
}

typedef struct enum_val {
	const char *name;
	int value;
} enum_val;

static certpin_err get_enum(loader *L, const json_t *v, const jcomp *c, size_t nc,
                            const enum_val *vals, size_t nvals, int *out)
{
	char allowed[96];
	size_t at = 0;
	allowed[0] = '\0';
	for (size_t i = 0; i < nvals; i++) {
		if (i != 0)
			append(allowed, sizeof allowed, &at, " or ", 4);
		append(allowed, sizeof allowed, &at, "\"", 1);
		append(allowed, sizeof allowed, &at, vals[i].name, strlen(vals[i].name));
		append(allowed, sizeof allowed, &at, "\"", 1);
	}
	const char *key = c[nc - 1].key;
	if (!json_is_string(v))
		return fail(L, CERTPIN_E_SCHEMA, c, nc, 0, "'%s' must be a string: %s", key,
		            allowed);
	const char *s = json_string_value(v);
	size_t sl = json_string_length(v);
	for (size_t i = 0; i < nvals; i++) {
		if (strlen(vals[i].name) == sl && memcmp(vals[i].name, s, sl) == 0) {
			*out = vals[i].value;
			return CERTPIN_OK;
		}
	}
	char buf[64];
	return fail(L, CERTPIN_E_SCHEMA, c, nc, 0, "'%s' must be %s, not \"%s\"", key, allowed,
	            shown(s, sl, buf));
}

static const enum_val unlisted_vals[] = {{"allow", CERTPIN_UNLISTED_ALLOW},
                                         {"deny", CERTPIN_UNLISTED_DENY}};
static const enum_val validation_vals[] = {{"webpki", CERTPIN_VALIDATION_WEBPKI},
                                           {"openssl", CERTPIN_VALIDATION_OPENSSL}};
static const enum_val on_expiry_vals[] = {{"unpinned", CERTPIN_ON_EXPIRY_UNPINNED},
                                          {"block", CERTPIN_ON_EXPIRY_BLOCK}};
static const enum_val mode_vals[] = {{"enforce", CERTPIN_MODE_ENFORCE},
                                     {"report", CERTPIN_MODE_REPORT}};
static const enum_val anchors_vals[] = {{"system", CERTPIN_ANCHORS_SYSTEM},
                                        {"pinned", CERTPIN_ANCHORS_PINNED}};
#define N_VALS(a) (sizeof(a) / sizeof((a)[0]))

typedef struct top_settings {
	certpin_unlisted unlisted;
	certpin_validation validation;
	json_t *domains; /* borrowed from the root */
} top_settings;

static certpin_err check_top(loader *L, json_t *root, top_settings *t)
{
	jcomp c[1] = {{NULL, 0, 0}};
	if (!json_is_object(root))
		return fail(L, CERTPIN_E_SCHEMA, c, 0, 0,
		            "a policy is a JSON object with \"certpin\": 1 and \"domains\"");
	json_t *ver = json_object_get(root, "certpin");
	c[0].key = "certpin";
	c[0].klen = 7;
	if (ver == NULL)
		return fail(L, CERTPIN_E_SCHEMA, c, 0, 0,
		            "missing key 'certpin' (the format version: \"certpin\": 1)");
	if (!json_is_integer(ver))
		return fail(L, CERTPIN_E_SCHEMA, c, 1, 0, "'certpin' must be the integer 1");
	if (json_integer_value(ver) != 1)
		return fail(L, CERTPIN_E_SCHEMA, c, 1, 0,
		            "unsupported format version %" JSON_INTEGER_FORMAT
		            ", this certpin reads 1",
		            json_integer_value(ver));

	t->unlisted = CERTPIN_UNLISTED_ALLOW;
	t->validation = CERTPIN_VALIDATION_WEBPKI;
	t->domains = NULL;
	const char *key;
	size_t klen;
	json_t *v;
	json_object_keylen_foreach(root, key, klen, v)
	{
		c[0].key = key;
		c[0].klen = klen;
		int e = 0;
		switch (find_key(top_keys, N_TOP_KEYS, key, klen)) {
		case 0: /* certpin */
			break;
		case 1:
			CP_GUARD(get_enum(L, v, c, 1, unlisted_vals, N_VALS(unlisted_vals), &e));
			t->unlisted = (certpin_unlisted)e;
			break;
		case 2:
			CP_GUARD(
			    get_enum(L, v, c, 1, validation_vals, N_VALS(validation_vals), &e));
			t->validation = (certpin_validation)e;
			break;
		case 3:
			if (!json_is_array(v))
				return fail(L, CERTPIN_E_SCHEMA, c, 1, 0,
				            "'domains' must be an array of domain objects");
			t->domains = v;
			break;
		default:
			return unknown_key(L, c, 1, top_keys, N_TOP_KEYS);
		}
	}
	if (t->domains == NULL)
		return fail(L, CERTPIN_E_SCHEMA, c, 0, 0,
		            "missing key 'domains' (an array, which may be empty)");
	return CERTPIN_OK;
}

static certpin_err get_bool(loader *L, const json_t *v, const jcomp *c, size_t nc, int *out)
{
	if (!json_is_boolean(v))
		return fail(L, CERTPIN_E_SCHEMA, c, nc, 0, "'%s' must be true or false",
		            c[nc - 1].key);
	*out = json_is_true(v);
	return CERTPIN_OK;
}

static certpin_err check_strings(loader *L, const json_t *v, jcomp *c, size_t nc)
{
	if (!json_is_array(v))
		return fail(L, CERTPIN_E_SCHEMA, c, nc, 0, "'%s' must be an array of strings",
		            c[nc - 1].key);
	for (size_t j = 0; j < json_array_size(v); j++) {
		if (!json_is_string(json_array_get(v, j))) {
			c[nc].key = NULL;
			c[nc].klen = 0;
			c[nc].index = j;
			return fail(L, CERTPIN_E_SCHEMA, c, nc + 1, 0,
			            "'%s' must be an array of strings", c[nc - 1].key);
		}
	}
	return CERTPIN_OK;
}

static const char *const *fill_strings(loader *L, const json_t *v, size_t *at, size_t *n)
{
	*n = json_array_size(v);
	if (*n == 0)
		return NULL;
	const char **dst = L->strs + *at;
	for (size_t j = 0; j < *n; j++)
		dst[j] = json_string_value(json_array_get(v, j));
	*at += *n;
	return dst;
}

static certpin_err add_spec(loader *L, certpin_builder *b, size_t i, const certpin_rule_spec *spec)
{
	certpin_err rc = certpin_builder_add_rule(b, spec, &L->err);
	if (rc != CERTPIN_OK) {
		L->err.code = rc;
		cp_err_prefix_path(&L->err, "$.domains[%zu]", i);
		place_by_path(L);
	}
	return rc;
}

static certpin_err load_domain(loader *L, certpin_builder *b, size_t i, json_t *d)
{
	jcomp c[4] = {{"domains", 7, 0}, {NULL, 0, i}, {NULL, 0, 0}, {NULL, 0, 0}};
	if (!json_is_object(d))
		return fail(L, CERTPIN_E_SCHEMA, c, 2, 0, "a domain must be a JSON object");
	certpin_rule_spec spec;
	memset(&spec, 0, sizeof spec);
	const json_t *lists[N_DOMAIN_KEYS] = {NULL};
	const char *key;
	size_t klen;
	json_t *v;
	json_object_keylen_foreach(d, key, klen, v)
	{
		int e = 0;
		size_t k = find_key(domain_keys, N_DOMAIN_KEYS, key, klen);
		c[2].key = k < N_DOMAIN_KEYS ? domain_keys[k] : key;
		c[2].klen = klen;
		switch (k) {
		case K_HOST:
			if (!json_is_string(v))
				return fail(L, CERTPIN_E_SCHEMA, c, 3, 0,
				            "'host' must be a string such as \"api.example.com\"");
			spec.host = json_string_value(v);
			break;
		case K_INCLUDE_SUBDOMAINS:
			CP_GUARD(get_bool(L, v, c, 3, &spec.include_subdomains));
			break;
		case K_EXCLUDE:
			CP_GUARD(get_bool(L, v, c, 3, &spec.exclude));
			break;
		case K_PINS:
		case K_LEAF_PINS:
		case K_CA_PINS:
		case K_PIN_FILES:
		case K_REPORT_URIS:
			CP_GUARD(check_strings(L, v, c, 3));
			lists[k] = v;
			break;
		case K_EXPIRES:
			if (!json_is_string(v))
				return fail(L, CERTPIN_E_SCHEMA, c, 3, 0,
				            "'expires' must be a string: a date \"YYYY-MM-DD\" or "
				            "an RFC 3339 time");
			if (certpin_time_parse(json_string_value(v), CERTPIN_TIME_DATE_END,
			                       &spec.expires, &L->err) != CERTPIN_OK) {
				if (L->err.code == CERTPIN_OK)
					L->err.code = CERTPIN_E_TIME;
				place(L, c, 3, 0);
				return L->err.code;
			}
			spec.has_expires = 1;
			break;
		case K_ON_EXPIRY:
			CP_GUARD(get_enum(L, v, c, 3, on_expiry_vals, N_VALS(on_expiry_vals), &e));
			spec.on_expiry = (certpin_on_expiry)e;
			break;
		case K_MODE:
			CP_GUARD(get_enum(L, v, c, 3, mode_vals, N_VALS(mode_vals), &e));
			spec.mode = (certpin_mode)e;
			break;
		case K_TRUST_ANCHORS:
			CP_GUARD(get_enum(L, v, c, 3, anchors_vals, N_VALS(anchors_vals), &e));
			spec.trust_anchors = (certpin_trust_anchors)e;
			break;
		case K_VALIDATION:
			CP_GUARD(
			    get_enum(L, v, c, 3, validation_vals, N_VALS(validation_vals), &e));
			spec.validation = (certpin_validation)e;
			break;
		default:
			return unknown_key(L, c, 3, domain_keys, N_DOMAIN_KEYS);
		}
	}
	if (spec.host == NULL)
		return fail(L, CERTPIN_E_SCHEMA, c, 2, 0, "missing key 'host'");

	size_t need = 0;
	for (size_t k = 0; k < N_DOMAIN_KEYS; k++)
		if (lists[k] != NULL)
			need += json_array_size(lists[k]);
	if (need > L->strs_cap) {
		const char **s = realloc(L->strs, need * sizeof *s);
		if (s == NULL)
			return fail(L, CERTPIN_E_NOMEM, c, 2, 0, "out of memory");
		L->strs = s;
		L->strs_cap = need;
	}
	size_t at = 0;
	if (lists[K_PINS] != NULL)
		spec.pins = fill_strings(L, lists[K_PINS], &at, &spec.n_pins);
	if (lists[K_LEAF_PINS] != NULL)
		spec.leaf_pins = fill_strings(L, lists[K_LEAF_PINS], &at, &spec.n_leaf_pins);
	if (lists[K_CA_PINS] != NULL)
		spec.ca_pins = fill_strings(L, lists[K_CA_PINS], &at, &spec.n_ca_pins);
	if (lists[K_PIN_FILES] != NULL)
		spec.pin_files = fill_strings(L, lists[K_PIN_FILES], &at, &spec.n_pin_files);
	if (lists[K_REPORT_URIS] != NULL)
		spec.report_uris = fill_strings(L, lists[K_REPORT_URIS], &at, &spec.n_report_uris);

	return add_spec(L, b, i, &spec);
}

/* ---- fast path for plain domain objects ---------------------------------- */

/*
 * jansson spends about 2 us on a typical domain object, most of a 100,000
 * domain load. Most objects are plain: known keys once each, ASCII strings
 * without escapes, true/false, arrays of such strings, valid enum values and
 * dates. Those are read here straight from the text, giving the spec jansson
 * would; anything else (including every error) returns 0 and the element
 * goes through jansson and the checks above, which word the error. The fuzz
 * target checks that both ways give the same result.
 */
typedef struct fast_list {
	size_t first, n;
} fast_list;

static int fast_string(loader *L, size_t e, size_t *i, const char **out, size_t *len)
{
	const char *s = L->text;
	size_t k = *i;
	if (k >= e || s[k] != '"')
		return 0;
	size_t start = ++k;
	while (k < e && s[k] != '"') {
		unsigned char c = (unsigned char)s[k];
		if (c < 0x20 || c > 0x7e || c == '\\')
			return 0;
		k++;
	}
	if (k >= e)
		return 0;
	*out = s + start;
	*len = k - start;
	*i = k + 1;
	return 1;
}

/* A string value, copied NUL-terminated into the arena. */
static int fast_copy(loader *L, size_t e, size_t *i, size_t *at, const char **out)
{
	const char *p;
	size_t n;
	if (!fast_string(L, e, i, &p, &n) || n + 1 > L->arena_cap - *at)
		return 0;
	char *dst = L->arena + *at;
	memcpy(dst, p, n);
	dst[n] = '\0';
	*at += n + 1;
	*out = dst;
	return 1;
}

static int fast_literal(const loader *L, size_t e, size_t *i, const char *lit)
{
	size_t n = strlen(lit);
	if (e - *i < n || memcmp(L->text + *i, lit, n) != 0)
		return 0;
	if (*i + n < e && !is_ws(L->text[*i + n]) && L->text[*i + n] != ',' &&
	    L->text[*i + n] != '}')
		return 0;
	*i += n;
	return 1;
}

static int fast_enum(loader *L, size_t e, size_t *i, const enum_val *vals, size_t nvals, int *out)
{
	const char *p;
	size_t n;
	if (!fast_string(L, e, i, &p, &n))
		return 0;
	for (size_t k = 0; k < nvals; k++) {
		if (strlen(vals[k].name) == n && memcmp(vals[k].name, p, n) == 0) {
			*out = vals[k].value;
			return 1;
		}
	}
	return 0;
}

static int fast_list_of_strings(loader *L, size_t e, size_t *i, size_t *at, size_t *nstr,
                                fast_list *out)
{
	const char *s = L->text;
	if (*i >= e || s[*i] != '[')
		return 0;
	out->first = *nstr;
	out->n = 0;
	*i = sc_ws(s, e, *i + 1);
	if (*i < e && s[*i] == ']') {
		(*i)++;
		return 1;
	}
	for (;;) {
		if (*nstr >= L->strs_cap || !fast_copy(L, e, i, at, &L->strs[*nstr]))
			return 0;
		(*nstr)++;
		out->n++;
		*i = sc_ws(s, e, *i);
		if (*i >= e)
			return 0;
		if (s[*i] == ']') {
			(*i)++;
			return 1;
		}
		if (s[*i] != ',')
			return 0;
		*i = sc_ws(s, e, *i + 1);
	}
}

static int fast_scratch(loader *L, size_t len)
{
	if (len > L->arena_cap) {
		size_t cap = len < 4096 ? 4096 : len;
		char *a = realloc(L->arena, cap);
		if (a == NULL)
			return 0;
		L->arena = a;
		L->arena_cap = cap;
	}
	/* A string takes at least two bytes and a comma: len / 2 bounds them. */
	size_t need = len / 2 + 1;
	if (need > L->strs_cap) {
		const char **v = realloc(L->strs, need * sizeof *v);
		if (v == NULL)
			return 0;
		L->strs = v;
		L->strs_cap = need;
	}
	return 1;
}

/* Reads domain i into spec when it is plain; 0 means "ask jansson". */
static int fast_domain(loader *L, size_t idx, certpin_rule_spec *spec)
{
	const span *sp = &L->spans[idx];
	const char *s = L->text;
	size_t e = sp->e, i = sp->s, at = 0, nstr = 0;
	fast_list lists[N_DOMAIN_KEYS];
	unsigned seen = 0;
	if (!fast_scratch(L, e - i))
		return 0;
	memset(spec, 0, sizeof *spec);
	if (i >= e || s[i] != '{')
		return 0;
	i = sc_ws(s, e, i + 1);
	for (;;) {
		const char *key;
		size_t klen;
		int v = 0;
		if (!fast_string(L, e, &i, &key, &klen))
			return 0;
		size_t k = find_key(domain_keys, N_DOMAIN_KEYS, key, klen);
		if (k == N_DOMAIN_KEYS || (seen & (1u << k)) != 0)
			return 0;
		seen |= 1u << k;
		i = sc_ws(s, e, i);
		if (i >= e || s[i] != ':')
			return 0;
		i = sc_ws(s, e, i + 1);
		switch (k) {
		case K_HOST:
			if (!fast_copy(L, e, &i, &at, &spec->host))
				return 0;
			break;
		case K_INCLUDE_SUBDOMAINS:
		case K_EXCLUDE:
			if (fast_literal(L, e, &i, "true"))
				v = 1;
			else if (!fast_literal(L, e, &i, "false"))
				return 0;
			if (k == K_EXCLUDE)
				spec->exclude = v;
			else
				spec->include_subdomains = v;
			break;
		case K_PINS:
		case K_LEAF_PINS:
		case K_CA_PINS:
		case K_PIN_FILES:
		case K_REPORT_URIS:
			if (!fast_list_of_strings(L, e, &i, &at, &nstr, &lists[k]))
				return 0;
			break;
		case K_EXPIRES: {
			const char *t;
			if (!fast_copy(L, e, &i, &at, &t) ||
			    certpin_time_parse(t, CERTPIN_TIME_DATE_END, &spec->expires, NULL) !=
			        CERTPIN_OK)
				return 0;
			spec->has_expires = 1;
			break;
		}
		case K_ON_EXPIRY:
			if (!fast_enum(L, e, &i, on_expiry_vals, N_VALS(on_expiry_vals), &v))
				return 0;
			spec->on_expiry = (certpin_on_expiry)v;
			break;
		case K_MODE:
			if (!fast_enum(L, e, &i, mode_vals, N_VALS(mode_vals), &v))
				return 0;
			spec->mode = (certpin_mode)v;
			break;
		case K_TRUST_ANCHORS:
			if (!fast_enum(L, e, &i, anchors_vals, N_VALS(anchors_vals), &v))
				return 0;
			spec->trust_anchors = (certpin_trust_anchors)v;
			break;
		case K_VALIDATION:
			if (!fast_enum(L, e, &i, validation_vals, N_VALS(validation_vals), &v))
				return 0;
			spec->validation = (certpin_validation)v;
			break;
		default:
			return 0;
		}
		i = sc_ws(s, e, i);
		if (i >= e)
			return 0;
		if (s[i] == '}')
			break;
		if (s[i] != ',')
			return 0;
		i = sc_ws(s, e, i + 1);
	}
	if (i + 1 != e || (seen & (1u << K_HOST)) == 0)
		return 0;
	const char *const *base = L->strs;
	if (seen & (1u << K_PINS)) {
		spec->pins = base + lists[K_PINS].first;
		spec->n_pins = lists[K_PINS].n;
	}
	if (seen & (1u << K_LEAF_PINS)) {
		spec->leaf_pins = base + lists[K_LEAF_PINS].first;
		spec->n_leaf_pins = lists[K_LEAF_PINS].n;
	}
	if (seen & (1u << K_CA_PINS)) {
		spec->ca_pins = base + lists[K_CA_PINS].first;
		spec->n_ca_pins = lists[K_CA_PINS].n;
	}
	if (seen & (1u << K_PIN_FILES)) {
		spec->pin_files = base + lists[K_PIN_FILES].first;
		spec->n_pin_files = lists[K_PIN_FILES].n;
	}
	if (seen & (1u << K_REPORT_URIS)) {
		spec->report_uris = base + lists[K_REPORT_URIS].first;
		spec->n_report_uris = lists[K_REPORT_URIS].n;
	}
	return 1;
}

/* Gives each warning the file, its full JSON path and its position. */
static void place_warnings(const loader *L, const certpin_policy *p, struct certpin_warnings *w,
                           const char *file)
{
	lc_pos cur = {0, 1, 0};
	for (size_t k = 0; k < w->n; k++) {
		cp_warning *x = &w->v[k];
		size_t idx = x->rule < p->n_rules ? p->rules[x->rule].spec_index : x->rule;
		char rel[sizeof x->where.path];
		memcpy(rel, x->where.path, sizeof rel);
		rel[sizeof rel - 1] = '\0';
		char head[48];
		int hl =
		    snprintf(head, sizeof head, "$.domains[%zu]%s", idx, rel[0] != '\0' ? "." : "");
		size_t plen = 0;
		append(x->where.path, sizeof x->where.path, &plen, head, hl > 0 ? (size_t)hl : 0);
		append(x->where.path, sizeof x->where.path, &plen, rel, strlen(rel));
		cp_strlcpy(x->where.file, file, sizeof x->where.file);
		jcomp c[CP_MAX_PATH_DEPTH];
		size_t nc = parse_path(x->where.path, c, CP_MAX_PATH_DEPTH), found;
		size_t off = locate_steps(L, c, nc, 0, &found);
		if (found < nc && nc == 3 && strcmp(rel, "pins") == 0) {
			/* The one pin came from pin_files: point there. */
			c[2].key = "pin_files";
			c[2].klen = 9;
			size_t off2 = locate_steps(L, c, nc, 0, &found);
			if (found == nc) {
				off = off2;
				plen = 0;
				append(x->where.path, sizeof x->where.path, &plen, head,
				       hl > 0 ? (size_t)hl : 0);
				append(x->where.path, sizeof x->where.path, &plen, "pin_files", 9);
			}
		}
		if (off == NPOS || off > L->len)
			continue;
		/* Warnings come in rule order: move a cursor to the rule's
		 * element, then count from there, so this stays linear. */
		size_t start = (L->split && idx < L->n_elems && idx < CERTPIN_MAX_DOMAINS)
		                   ? L->spans[idx].s
		                   : 0;
		if (start > off)
			start = 0;
		lc_move(L->text, L->len, &cur, start);
		lc_pos at = cur;
		lc_move(L->text, L->len, &at, off);
		x->where.line = at.line;
		x->where.column = at.col + 1;
	}
}

static certpin_err load(loader *L, const char *base_dir, unsigned flags, certpin_policy **out,
                        certpin_warnings **warnings, const char *file)
{
	json_t *root = NULL;
	certpin_builder *b = NULL;
	struct certpin_warnings *w = NULL;
	top_settings t = {CERTPIN_UNLISTED_ALLOW, CERTPIN_VALIDATION_WEBPKI, NULL};
	certpin_err rc = split_domains(L);
	if (rc != CERTPIN_OK)
		return rc;
	rc = parse_top(L, &root);
	if (rc != CERTPIN_OK)
		return rc;
	rc = check_top(L, root, &t);
	if (rc != CERTPIN_OK)
		goto done;
	size_t n = L->split ? L->n_elems : json_array_size(t.domains);
	if (n > CERTPIN_MAX_DOMAINS) {
		jcomp c[1] = {{"domains", 7, 0}};
		rc = fail(L, CERTPIN_E_TOO_LARGE, c, 1, 0, "%zu domains: at most %u are allowed", n,
		          CERTPIN_MAX_DOMAINS);
		goto done;
	}
	b = certpin_builder_new(base_dir);
	if (b == NULL) {
		rc = cp_err_set(&L->err, CERTPIN_E_NOMEM, "out of memory");
		goto done;
	}
	if (certpin_builder_set_unlisted(b, t.unlisted) != CERTPIN_OK ||
	    certpin_builder_set_validation(b, t.validation) != CERTPIN_OK) {
		rc = cp_err_set(&L->err, CERTPIN_E_INTERNAL, "cannot apply top-level settings");
		goto done;
	}
	for (size_t i = 0; i < n; i++) {
		json_t *d;
		certpin_rule_spec spec;
		if (L->split && !L->jansson_only && fast_domain(L, i, &spec)) {
			rc = add_spec(L, b, i, &spec);
			if (rc != CERTPIN_OK)
				goto done;
			continue;
		}
		if (L->split) {
			rc = parse_element(L, i, &d);
			if (rc != CERTPIN_OK)
				goto done;
		} else {
			d = json_array_get(t.domains, i);
		}
		rc = load_domain(L, b, i, d);
		if (L->split)
			json_decref(d);
		if (rc != CERTPIN_OK)
			goto done;
	}
	json_decref(root);
	root = NULL;

	rc = certpin_builder_finish(b, flags, out, warnings != NULL ? &w : NULL, &L->err);
	b = NULL;
	if (rc != CERTPIN_OK) {
		L->err.code = rc;
		cp_err_prefix_path(&L->err, "$");
		place_by_path(L);
		goto done;
	}
	if (w != NULL) {
		place_warnings(L, *out, w, file);
		*warnings = w;
	}
done:
	certpin_builder_free(b);
	json_decref(root);
	return rc;
}

certpin_err certpin_policy_load_mem(const char *json, size_t len, const char *name,
                                    const char *base_dir, unsigned flags, certpin_policy **out,
                                    certpin_warnings **warnings, certpin_error *err)
{
	return cp_policy_load_mem_ex(json, len, name, base_dir, flags, 0, out, warnings, err);
}

certpin_err cp_policy_load_mem_ex(const char *json, size_t len, const char *name,
                                  const char *base_dir, unsigned flags, int jansson_only,
                                  certpin_policy **out, certpin_warnings **warnings,
                                  certpin_error *err)
{
	const char *file = name != NULL ? name : "<memory>";
	if (out != NULL)
		*out = NULL;
	if (warnings != NULL)
		*warnings = NULL;
	certpin_err rc;
	loader L;
	memset(&L, 0, sizeof L);
	if (json == NULL || out == NULL || (flags & ~CERTPIN_LOAD_STRICT) != 0) {
		rc = cp_err_set(&L.err, CERTPIN_E_INVALID_ARG,
		                "NULL policy text or output, or "
		                "unknown flags");
	} else if (len > CP_MAX_POLICY_TEXT) {
		rc = cp_err_set(&L.err, CERTPIN_E_TOO_LARGE,
		                "policy text of %zu bytes: at most %u are allowed", len,
		                CP_MAX_POLICY_TEXT);
	} else {
		L.text = json;
		L.len = len;
		L.jansson_only = jansson_only;
		rc = load(&L, base_dir != NULL ? base_dir : ".", flags, out, warnings, file);
	}
	free(L.spans);
	free(L.strs);
	free(L.arena);
	if (rc != CERTPIN_OK) {
		if (out != NULL && *out != NULL) {
			certpin_policy_free(*out);
			*out = NULL;
		}
		if (warnings != NULL && *warnings != NULL) {
			certpin_warnings_free(*warnings);
			*warnings = NULL;
		}
		if (err != NULL) {
			*err = L.err;
			err->code = rc;
			cp_strlcpy(err->file, file, sizeof err->file);
		}
	}
	return rc;
}

/* ---- files -------------------------------------------------------------- */

static certpin_err io_error(certpin_error *err, const char *what, const char *path, int e)
{
	char buf[128];
	if (strerror_r(e, buf, sizeof buf) != 0)
		snprintf(buf, sizeof buf, "error %d", e);
	cp_err_set(err, CERTPIN_E_IO, "cannot %s %s: %s", what, path, buf);
	return CERTPIN_E_IO;
}

static certpin_err too_large(certpin_error *err, const char *path)
{
	return cp_err_set(err, CERTPIN_E_TOO_LARGE,
	                  "%s is larger than %u bytes, the limit for a policy file", path,
	                  CERTPIN_MAX_FILE_SIZE);
}

/* Reads at most CERTPIN_MAX_FILE_SIZE bytes; checks the size before reading. */
static certpin_err read_file(const char *path, char **out, size_t *len, certpin_error *err)
{
	*out = NULL;
	*len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return io_error(err, "open", path, errno);
	struct stat st;
	if (fstat(fd, &st) != 0) {
		int e = errno;
		close(fd);
		return io_error(err, "read", path, e);
	}
	if (S_ISDIR(st.st_mode)) {
		close(fd);
		return io_error(err, "read", path, EISDIR);
	}
	if (S_ISREG(st.st_mode) && st.st_size > (off_t)CERTPIN_MAX_FILE_SIZE) {
		close(fd);
		return too_large(err, path);
	}
	size_t cap = S_ISREG(st.st_mode) ? (size_t)st.st_size + 1 : 65536;
	char *buf = malloc(cap);
	size_t n = 0;
	if (buf == NULL) {
		close(fd);
		return cp_err_set(err, CERTPIN_E_NOMEM, "out of memory");
	}
	for (;;) {
		if (n == cap) {
			if (cap > CERTPIN_MAX_FILE_SIZE) {
				free(buf);
				close(fd);
				return too_large(err, path);
			}
			size_t ncap = cap * 2 > CERTPIN_MAX_FILE_SIZE + 1
			                  ? CERTPIN_MAX_FILE_SIZE + 1
			                  : cap * 2;
			char *nb = realloc(buf, ncap);
			if (nb == NULL) {
				free(buf);
				close(fd);
				return cp_err_set(err, CERTPIN_E_NOMEM, "out of memory");
			}
			buf = nb;
			cap = ncap;
		}
		ssize_t got = read(fd, buf + n, cap - n);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			free(buf);
			close(fd);
			return io_error(err, "read", path, e);
		}
		if (got == 0)
			break;
		n += (size_t)got;
	}
	close(fd);
	if (n > CERTPIN_MAX_FILE_SIZE) {
		free(buf);
		return too_large(err, path);
	}
	*out = buf;
	*len = n;
	return CERTPIN_OK;
}

certpin_err certpin_policy_load_file(const char *path, unsigned flags, certpin_policy **out,
                                     certpin_warnings **warnings, certpin_error *err)
{
	if (out != NULL)
		*out = NULL;
	if (warnings != NULL)
		*warnings = NULL;
	if (path == NULL || out == NULL)
		return cp_err_set(err, CERTPIN_E_INVALID_ARG, "NULL path or output");
	char *text = NULL;
	size_t len = 0;
	certpin_err rc = read_file(path, &text, &len, err);
	if (rc != CERTPIN_OK) {
		if (err != NULL)
			cp_strlcpy(err->file, path, sizeof err->file);
		return rc;
	}
	size_t plen = strlen(path);
	char *dir = malloc(plen + 2);
	if (dir == NULL) {
		free(text);
		rc = cp_err_set(err, CERTPIN_E_NOMEM, "out of memory");
		if (err != NULL)
			cp_strlcpy(err->file, path, sizeof err->file);
		return rc;
	}
	const char *slash = strrchr(path, '/');
	if (slash == NULL) {
		memcpy(dir, ".", 2);
	} else if (slash == path) {
		memcpy(dir, "/", 2);
	} else {
		memcpy(dir, path, (size_t)(slash - path));
		dir[slash - path] = '\0';
	}
	rc = certpin_policy_load_mem(text, len, path, dir, flags, out, warnings, err);
	free(dir);
	free(text);
	return rc;
}
