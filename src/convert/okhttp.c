/*
 * OkHttp CertificatePinner: Kotlin (or Java) `.add("host", "sha256/...")`
 * calls, read from source text and written as a Kotlin builder.
 *
 * OkHttp applies the pins of every pattern that matches a host (their
 * union); certpin applies only the most specific rule. Importing therefore
 * merges into each rule the pins of every pattern that covers it, and adds
 * an exact rule where a "*." and a "**." pattern overlap in one name only
 * (`*.example.com` and `**.a.example.com` both match a.example.com).
 * Exporting a policy in which a specific rule does not carry the pins of a
 * pattern above it is a loss: OkHttp would accept those pins too.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert.h"

#define OK_MAX_CONSTS 64

/* String constants (`val HOST = "x"`, `const val`, `var`), for add(HOST, ...). */
typedef struct consts {
	char name[OK_MAX_CONSTS][64];
	char value[OK_MAX_CONSTS][CERTPIN_HOST_MAX + 8];
	size_t n;
} consts;

typedef struct lexer {
	const char *s;
	size_t n, i;
	unsigned line, col;
	consts *k;
} lexer;

static void adv(lexer *x)
{
	if (x->i < x->n) {
		if (x->s[x->i] == '\n') {
			x->line++;
			x->col = 1;
		} else {
			x->col++;
		}
		x->i++;
	}
}

static int at(const lexer *x, const char *t)
{
	size_t m = strlen(t);
	return x->n - x->i >= m && memcmp(x->s + x->i, t, m) == 0;
}

/* Skips whitespace and comments. */
static void skip_space(lexer *x)
{
	for (;;) {
		if (x->i < x->n && strchr(" \t\r\n", x->s[x->i]) != NULL && x->s[x->i] != '\0') {
			adv(x);
		} else if (at(x, "//")) {
			while (x->i < x->n && x->s[x->i] != '\n')
				adv(x);
		} else if (at(x, "/*")) {
			adv(x);
			adv(x);
			while (x->i < x->n && !at(x, "*/"))
				adv(x);
			adv(x);
			adv(x);
		} else {
			return;
		}
	}
}

/*
 * A plain string literal at x (no escapes, no templates) into out.
 * Returns 1 read, 0 not a string here, -1 error (err set).
 */
static int string_lit(lexer *x, const cv_opts *o, char *out, size_t cap, certpin_error *err)
{
	if (x->i >= x->n || x->s[x->i] != '"')
		return 0;
	unsigned l = x->line, c = x->col;
	if (at(x, "\"\"\"")) {
		cv_err(err, CERTPIN_E_SCHEMA, o->name, l, c, "raw strings are not supported here");
		return -1;
	}
	adv(x);
	size_t len = 0;
	while (x->i < x->n && x->s[x->i] != '"') {
		char ch = x->s[x->i];
		if (ch == '\\' || ch == '$' || ch == '\n') {
			cv_err(err, CERTPIN_E_SCHEMA, o->name, x->line, x->col,
			       "%s in a host or pin string",
			       ch == '\n' ? "unterminated string" : "escape or template");
			return -1;
		}
		if (len + 1 >= cap) {
			cv_err(err, CERTPIN_E_TOO_LARGE, o->name, l, c, "string too long");
			return -1;
		}
		out[len++] = ch;
		adv(x);
	}
	if (x->i >= x->n) {
		cv_err(err, CERTPIN_E_SCHEMA, o->name, l, c, "unterminated string");
		return -1;
	}
	adv(x);
	out[len] = '\0';
	return 1;
}

/* Skips any string or char literal at x so that its content is not scanned. */
static void skip_literal(lexer *x)
{
	char q = x->s[x->i];
	int triple = q == '"' && at(x, "\"\"\"");
	if (triple) {
		adv(x);
		adv(x);
		adv(x);
		while (x->i < x->n && !at(x, "\"\"\""))
			adv(x);
		adv(x);
		adv(x);
		adv(x);
		return;
	}
	adv(x);
	while (x->i < x->n && x->s[x->i] != q && x->s[x->i] != '\n') {
		if (x->s[x->i] == '\\')
			adv(x);
		adv(x);
	}
	adv(x);
}

static int is_ident(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_';
}

/* An identifier at x into out (truncated names do not match anything). */
static size_t ident(lexer *x, char *out, size_t cap)
{
	size_t len = 0;
	while (x->i < x->n && is_ident(x->s[x->i])) {
		if (len + 1 < cap)
			out[len++] = x->s[x->i];
		adv(x);
	}
	out[len < cap ? len : cap - 1] = '\0';
	return len;
}

static const char *const_lookup(const consts *k, const char *name)
{
	for (size_t i = k->n; i-- > 0;)
		if (strcmp(k->name[i], name) == 0)
			return k->value[i];
	return NULL;
}

/* After `val`/`var`: NAME [: String] = "literal" records a constant. */
static void const_decl(lexer *x, const cv_opts *o)
{
	char name[64], value[CERTPIN_HOST_MAX + 8];
	skip_space(x);
	if (ident(x, name, sizeof name) == 0 || strlen(name) >= sizeof name - 1)
		return;
	skip_space(x);
	if (x->i < x->n && x->s[x->i] == ':') {
		char type[16];
		adv(x);
		skip_space(x);
		if (ident(x, type, sizeof type) == 0 || strcmp(type, "String") != 0)
			return;
		skip_space(x);
	}
	if (x->i >= x->n || x->s[x->i] != '=')
		return;
	adv(x);
	skip_space(x);
	lexer save = *x;
	if (string_lit(x, o, value, sizeof value, NULL) != 1) {
		*x = save;
		return;
	}
	if (x->k->n < OK_MAX_CONSTS) {
		memcpy(x->k->name[x->k->n], name, sizeof name);
		memcpy(x->k->value[x->k->n], value, sizeof value);
		x->k->n++;
	}
}

/* One `add("host", "pin", ...)` with x after "add". 1 done, 0 not a pinner call, -1 error. */
static int add_call(lexer *x, const cv_opts *o, cv_policy *p, certpin_error *err)
{
	lexer save = *x;
	skip_space(x);
	if (x->i >= x->n || x->s[x->i] != '(') {
		*x = save;
		return 0;
	}
	adv(x);
	skip_space(x);
	unsigned hl = x->line, hc = x->col;
	char host[CERTPIN_HOST_MAX + 8];
	int r = string_lit(x, o, host, sizeof host, err);
	if (r < 0)
		return -1;
	if (r == 0) {
		char name[64];
		const char *v = NULL;
		if (ident(x, name, sizeof name) != 0)
			v = const_lookup(x->k, name);
		if (v == NULL) {
			/* some other add(...), unless a pin string follows */
			skip_space(x);
			if (x->i < x->n && x->s[x->i] == ',') {
				adv(x);
				skip_space(x);
				if (at(x, "\"sha")) {
					cv_err(err, CERTPIN_E_SCHEMA, o->name, hl, hc,
					       "add(%s, ...): the host must be a string literal or a string "
					       "constant of this file",
					       name[0] ? name : "...");
					return -1;
				}
			}
			*x = save;
			return 0;
		}
		snprintf(host, sizeof host, "%s", v);
	}
	{ /* add("x") alone is some other add(), or an OkHttp call that pins nothing */
		lexer peek = *x;
		skip_space(&peek);
		if (peek.i < peek.n && peek.s[peek.i] == ')') {
			*x = save;
			return 0;
		}
	}
	cv_rule *rule = cv_policy_find(p, host);
	if (rule == NULL && (rule = cv_policy_add_rule(p, host, hl, hc)) == NULL) {
		cv_err(err, CERTPIN_E_NOMEM, o->name, 0, 0, "out of memory");
		return -1;
	}
	size_t n = 0;
	for (;;) {
		skip_space(x);
		if (x->i < x->n && x->s[x->i] == ')') {
			adv(x);
			break;
		}
		if (x->i >= x->n || x->s[x->i] != ',') {
			cv_err(err, CERTPIN_E_SCHEMA, o->name, x->line, x->col,
			       "expected ',' or ')' in add(\"%s\", ...)", host);
			return -1;
		}
		adv(x);
		skip_space(x);
		if (x->i < x->n && x->s[x->i] == ')') { /* trailing comma */
			adv(x);
			break;
		}
		unsigned pl = x->line, pc = x->col;
		char pin[128], canon[CERTPIN_PIN_STRLEN];
		r = string_lit(x, o, pin, sizeof pin, err);
		if (r < 0)
			return -1;
		if (r == 0) {
			cv_err(err, CERTPIN_E_SCHEMA, o->name, pl, pc,
			       "add(\"%s\", ...): pins must be string literals", host);
			return -1;
		}
		certpin_error pe;
		if (cv_pin_canon(pin, strlen(pin), canon, &pe) != 0) {
			cv_err(err, pe.code, o->name, pl, pc, "%s", pe.message);
			return -1;
		}
		if (rule->pins.n >= CERTPIN_MAX_PINS_PER_RULE) {
			cv_err(err, CERTPIN_E_TOO_LARGE, o->name, pl, pc, "too many pins for %s", host);
			return -1;
		}
		if (!cv_strs_has(&rule->pins, canon) && cv_strs_add(&rule->pins, canon) != 0) {
			cv_err(err, CERTPIN_E_NOMEM, o->name, 0, 0, "out of memory");
			return -1;
		}
		n++;
	}
	if (n == 0) {
		cv_err(err, CERTPIN_E_SCHEMA, o->name, hl, hc, "add(\"%s\") without pins", host);
		return -1;
	}
	return 1;
}

/* The pattern kind and the name behind it. */
static const char *split(const char *h, int *kind)
{
	*kind = strncmp(h, "**.", 3) == 0 ? 2 : strncmp(h, "*.", 2) == 0 ? 1 : 0;
	return h + (*kind == 2 ? 3 : *kind == 1 ? 2 : 0);
}

static int word_at(const lexer *x, const char *w)
{
	size_t m = strlen(w);
	return at(x, w) && (x->i == 0 || !is_ident(x->s[x->i - 1])) &&
	       (x->n - x->i == m || !is_ident(x->s[x->i + m]));
}

/* Finds the add() calls (and string constants) in the source text. */
static certpin_err scan(lexer *x, const cv_opts *o, cv_policy *p, certpin_error *err)
{
	while (x->i < x->n) {
		char c = x->s[x->i];
		if (at(x, "//") || at(x, "/*")) {
			skip_space(x);
		} else if (c == '"' || c == '\'') {
			skip_literal(x);
		} else if (word_at(x, "val") || word_at(x, "var")) {
			adv(x);
			adv(x);
			adv(x);
			const_decl(x, o);
		} else if (word_at(x, "add")) {
			adv(x);
			adv(x);
			adv(x);
			if (add_call(x, o, p, err) < 0)
				return err ? err->code : CERTPIN_E_SCHEMA;
		} else if (c == '\0') {
			return cv_err(err, CERTPIN_E_SCHEMA, o->name, x->line, x->col,
			              "NUL byte in source text");
		} else if (is_ident(c)) {
			while (x->i < x->n && is_ident(x->s[x->i]))
				adv(x);
		} else {
			adv(x);
		}
	}
	return CERTPIN_OK;
}

certpin_err cv_import_okhttp(const char *data, size_t len, const cv_opts *o, cv_policy *p,
                             cv_log *log, certpin_error *err)
{
	consts *table = calloc(1, sizeof *table);
	if (table == NULL)
		return cv_err(err, CERTPIN_E_NOMEM, o->name, 0, 0, "out of memory");
	lexer x = {data, len, 0, 1, 1, table};
	certpin_err rc = scan(&x, o, p, err);
	free(table);
	if (rc != CERTPIN_OK)
		return rc;
	if (p->n == 0)
		return cv_err(err, CERTPIN_E_SCHEMA, o->name, 0, 0,
		              "no CertificatePinner add(\"host\", \"sha256/...\") calls found");
	/* A name that a "*.s" and a "**.x.s" pattern both match needs a rule of its own. */
	size_t n0 = p->n;
	for (size_t i = 0; i < n0; i++) {
		int ki;
		const char *si = split(p->rules[i].host, &ki);
		if (ki != 1)
			continue;
		for (size_t j = 0; j < n0; j++) {
			int kj;
			const char *sj = split(p->rules[j].host, &kj);
			size_t ls = strlen(si), lj = strlen(sj);
			if (kj != 2 || lj <= ls + 1 || sj[lj - ls - 1] != '.' || strcmp(sj + lj - ls, si) != 0 ||
			    memchr(sj, '.', lj - ls - 1) != NULL)
				continue;
			if (cv_policy_find(p, sj) == NULL) {
				unsigned l = p->rules[j].line, c = p->rules[j].column;
				if (cv_policy_add_rule(p, sj, l, c) == NULL)
					return cv_err(err, CERTPIN_E_NOMEM, o->name, 0, 0, "out of memory");
				cv_log_add(log, CV_NOTE,
				           "%s: added as a rule of its own, with the pins of %s and %s "
				           "(OkHttp applies both to it)",
				           sj, p->rules[i].host, p->rules[j].host);
			}
		}
	}
	/* Union of every covering pattern's pins (from the pins as written). */
	cv_strs *orig = calloc(p->n, sizeof *orig);
	if (orig == NULL)
		return cv_err(err, CERTPIN_E_NOMEM, o->name, 0, 0, "out of memory");
	int oom = 0;
	for (size_t i = 0; i < p->n; i++)
		for (size_t k = 0; k < p->rules[i].pins.n; k++)
			oom |= cv_strs_add(&orig[i], p->rules[i].pins.v[k]);
	for (size_t i = 0; i < p->n && !oom; i++) {
		for (size_t j = 0; j < p->n; j++) {
			if (i == j || !cv_host_covers(p->rules[j].host, p->rules[i].host))
				continue;
			size_t added = 0;
			for (size_t k = 0; k < orig[j].n; k++) {
				if (cv_strs_has(&p->rules[i].pins, orig[j].v[k]))
					continue;
				oom |= cv_strs_add(&p->rules[i].pins, orig[j].v[k]);
				added++;
			}
			if (added != 0 && orig[i].n != 0)
				cv_log_add(log, CV_NOTE,
				           "%s: also gets the %zu pin%s of %s (OkHttp applies every matching "
				           "pattern; certpin the most specific rule)",
				           p->rules[i].host, added, added == 1 ? "" : "s", p->rules[j].host);
		}
	}
	for (size_t i = 0; i < p->n; i++)
		cv_strs_free(&orig[i]);
	free(orig);
	if (oom)
		return cv_err(err, CERTPIN_E_NOMEM, o->name, 0, 0, "out of memory");
	return CERTPIN_OK;
}

/* Whether OkHttp would apply pattern q's pins to some host that certpin gives to r. */
static int overlaps_into(const char *q, const char *r)
{
	if (cv_host_covers(q, r))
		return 1;
	int kq, kr;
	const char *sq = split(q, &kq), *sr = split(r, &kr);
	/* "*.s" and "**.x.s": x.s goes to "**.x.s" in certpin, gets both in OkHttp */
	return kq == 1 && kr == 2 && cv_host_matches(q, sr) && strcmp(sq, sr) != 0;
}

certpin_err cv_export_okhttp(const cv_policy *p, const cv_opts *o, cv_buf *out, cv_log *log,
                             certpin_error *err)
{
	(void)o;
	(void)err;
	cv_common_losses(p, "OkHttp", 0, log);
	cv_buf_puts(out, "// Generated by certpin convert.\n"
	                 "val certificatePinner = CertificatePinner.Builder()\n");
	for (size_t i = 0; i < p->n; i++) {
		const cv_rule *r = &p->rules[i];
		cv_strs pins = {0};
		cv_rule_spki_pins(r, &pins);
		for (size_t k = 0; k < r->leaf_pins.n; k++)
			if (strncmp(r->leaf_pins.v[k], "sha256/", 7) == 0 &&
			    !cv_strs_has(&pins, r->leaf_pins.v[k]))
				(void)cv_strs_add(&pins, r->leaf_pins.v[k]);
		for (size_t k = 0; k < r->ca_pins.n; k++)
			if (strncmp(r->ca_pins.v[k], "sha256/", 7) == 0 &&
			    !cv_strs_has(&pins, r->ca_pins.v[k]))
				(void)cv_strs_add(&pins, r->ca_pins.v[k]);
		for (size_t j = 0; j < p->n; j++) {
			const cv_rule *q = &p->rules[j];
			if (j == i || q->exclude || !overlaps_into(q->host, r->host))
				continue;
			cv_strs qp = {0};
			cv_rule_spki_pins(q, &qp);
			int extra = 0;
			for (size_t k = 0; k < qp.n; k++)
				extra |= !cv_strs_has(&pins, qp.v[k]);
			cv_strs_free(&qp);
			if (r->exclude)
				cv_log_add(log, CV_LOSS,
				           "%s: exclude: OkHttp cannot unpin a name that %s pins (dropped)",
				           r->host, q->host);
			else if (extra)
				cv_log_add(log, CV_LOSS,
				           "%s: OkHttp applies every matching pattern, so it would also "
				           "accept the pins of %s",
				           r->host, q->host);
		}
		if (r->exclude) {
			cv_strs_free(&pins);
			continue;
		}
		if (pins.n == 0)
			cv_log_add(log, CV_LOSS, "%s: no SHA-256 public-key pin left to write (dropped)",
			           r->host);
		for (size_t k = 0; k < pins.n; k++)
			cv_buf_printf(out, "    .add(\"%s\", \"%s\")\n", r->host, pins.v[k]);
		cv_strs_free(&pins);
	}
	cv_buf_puts(out, "    .build()\n");
	return CERTPIN_OK;
}
