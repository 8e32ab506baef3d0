/* Target: the policy JSON loader (certpin_policy_load_mem), with the builder,
 * host patterns, pins, times and the index behind it. pin_files resolve
 * under a directory that does not exist, so they fail cleanly; inputs that
 * could name an absolute path are skipped so the fuzzer never reads the
 * machine's files.
 *
 * Invariants (abort() on violation):
 *  - success gives a policy and no error; every rule's host text parses back
 *    to the rule's pattern, and looking up an exact or "**." rule's own name
 *    finds a rule (the exact rule itself for exact names);
 *  - failure gives no policy, no warnings, err.code == the result, a
 *    message, and a line:column inside the input when a line is given;
 *  - jansson's verdict on the whole text agrees: a text jansson refuses is
 *    never loaded, and a text it accepts never fails with CERTPIN_E_JSON
 *    (the loader parses the domains array element by element);
 *  - warnings carry the file, a "$.domains[i]" path and an in-bounds
 *    position, and strict loading fails exactly when there are warnings;
 *  - the loader's fast path for plain domain objects changes nothing: with
 *    jansson reading every domain the result, the error (code, position,
 *    path, message), the policy and the warnings are the same.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "internal.h"


#define BASE_DIR "/nonexistent-certpin-fuzz"

/* A string that starts with '/': "/..., "\/... or "\u002f... */
static int may_name_absolute_path(const uint8_t *d, size_t n)
{
	static const char *const starts[] = {"\"/", "\"\\/", "\"\\u002"};
	for (size_t k = 0; k < sizeof starts / sizeof starts[0]; k++) {
		size_t m = strlen(starts[k]);
		for (size_t i = 0; i + m <= n; i++)
			if (memcmp(d + i, starts[k], m) == 0)
				return 1;
	}
	return 0;
}

/* line:column lies in the input (column counted up to one past the line). */
static void check_position(const uint8_t *d, size_t n, unsigned line, unsigned col)
{
	if (line == 0) {
		CHECK(col == 0);
		return;
	}
	unsigned l = 1;
	size_t start = 0;
	for (size_t i = 0; i < n && l < line; i++) {
		if (d[i] == '\n') {
			l++;
			start = i + 1;
		}
	}
	CHECK(l == line);
	size_t end = start;
	while (end < n && d[end] != '\n')
		end++;
	CHECK(col >= 1 && col <= end - start + 1);
}

static void check_policy(const certpin_policy *p)
{
	size_t n = certpin_policy_rule_count(p);
	CHECK(n <= CERTPIN_MAX_DOMAINS);
	for (size_t i = 0; i < n; i++) {
		const struct certpin_rule *r =
		    (const struct certpin_rule *)certpin_policy_rule(p, i);
		CHECK(r != NULL && r->host_text != NULL);
		CHECK(r->spec_index == i);
		cp_host_pattern pat;
		CHECK(cp_host_pattern_parse(r->host_text, strlen(r->host_text), 0, &pat, NULL) ==
		      CERTPIN_OK);
		CHECK(pat.kind == r->key.kind && pat.len == r->key.len &&
		      memcmp(pat.name, r->key.name, pat.len + 1) == 0);
		/* the key's name is the tail of host_text, after any "*." / "**." */
		CHECK(r->key.name == r->host_text + strlen(r->host_text) - r->key.len);
		size_t total = r->pins.n + r->leaf_pins.n + r->ca_pins.n;
		CHECK(total <= CERTPIN_MAX_PINS_PER_RULE);
		CHECK(r->exclude ? total == 0 : total > 0);
		CHECK(certpin_rule_validation((const certpin_rule *)r) !=
		      CERTPIN_VALIDATION_DEFAULT);
		if (r->key.kind != CP_HOST_WILDCARD) {
			const certpin_rule *found = certpin_policy_lookup(p, r->key.name);
			CHECK(found != NULL);
			if (r->key.kind == CP_HOST_EXACT)
				CHECK(found == (const certpin_rule *)r);
		}
	}
}

static void same_error(const certpin_error *a, const certpin_error *b)
{
	CHECK(a->code == b->code && a->line == b->line && a->column == b->column);
	CHECK(strcmp(a->file, b->file) == 0 && strcmp(a->path, b->path) == 0);
	CHECK(strcmp(a->message, b->message) == 0);
}

static void same_pins(const cp_pin_list *a, const cp_pin_list *b)
{
	CHECK(a->n == b->n);
	for (size_t i = 0; i < a->n; i++)
		CHECK(certpin_pin_equal(&a->v[i], &b->v[i]));
}

static void same_policy(const certpin_policy *pa, const certpin_policy *pb)
{
	CHECK(pa->unlisted == pb->unlisted && pa->validation == pb->validation);
	CHECK(pa->n_rules == pb->n_rules);
	for (size_t i = 0; i < pa->n_rules; i++) {
		const struct certpin_rule *a = &pa->rules[i], *b = &pb->rules[i];
		CHECK(strcmp(a->host_text, b->host_text) == 0);
		CHECK(a->key.kind == b->key.kind && a->key.is_ip == b->key.is_ip &&
		      a->key.len == b->key.len);
		CHECK(a->exclude == b->exclude && a->include_subdomains == b->include_subdomains);
		same_pins(&a->pins, &b->pins);
		same_pins(&a->leaf_pins, &b->leaf_pins);
		same_pins(&a->ca_pins, &b->ca_pins);
		CHECK(a->has_cert_pins == b->has_cert_pins && a->has_expires == b->has_expires);
		CHECK(a->expires == b->expires && a->on_expiry == b->on_expiry);
		CHECK(a->mode == b->mode && a->trust_anchors == b->trust_anchors);
		CHECK(a->validation == b->validation && a->n_root_pins == b->n_root_pins);
		CHECK(a->spec_index == b->spec_index && a->n_anchors == b->n_anchors);
		CHECK(a->n_report_uris == b->n_report_uris);
		for (size_t k = 0; k < a->n_report_uris; k++)
			CHECK(strcmp(a->report_uris[k], b->report_uris[k]) == 0);
	}
}

static void same_warnings(const certpin_warnings *a, const certpin_warnings *b)
{
	CHECK(a->n == b->n);
	for (size_t i = 0; i < a->n; i++) {
		CHECK(a->v[i].kind == b->v[i].kind && a->v[i].rule == b->v[i].rule);
		same_error(&a->v[i].where, &b->v[i].where);
	}
}

/* The same load with jansson reading every domain. */
static void compare_with_jansson_only(const char *text, size_t size, certpin_err rc,
                                      const certpin_policy *p, const certpin_warnings *w,
                                      const certpin_error *err)
{
	certpin_policy *p2 = NULL;
	certpin_warnings *w2 = NULL;
	certpin_error err2;
	memset(&err2, 0, sizeof err2);
	certpin_err rc2 =
	    cp_policy_load_mem_ex(text, size, "fuzz.json", BASE_DIR, 0, 1, &p2, &w2, &err2);
	CHECK(rc2 == rc);
	if (rc == CERTPIN_OK) {
		same_policy(p, p2);
		same_warnings(w, w2);
	} else {
		same_error(err, &err2);
	}
	certpin_warnings_free(w2);
	certpin_policy_free(p2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (may_name_absolute_path(data, size))
		return 0;
	const char *text = (const char *)data;
	certpin_policy *p = NULL;
	certpin_warnings *w = NULL;
	certpin_error err;
	memset(&err, 0, sizeof err);
	certpin_err rc =
	    certpin_policy_load_mem(text, size, "fuzz.json", BASE_DIR, 0, &p, &w, &err);

	json_error_t je;
	json_t *j = json_loadb(text, size, JSON_REJECT_DUPLICATES, &je);
	int jansson_ok = j != NULL;
	json_decref(j);

	if (rc == CERTPIN_OK) {
		CHECK(p != NULL && w != NULL);
		CHECK(jansson_ok);
		check_policy(p);
		size_t nw = certpin_warnings_count(w);
		for (size_t i = 0; i < nw; i++) {
			certpin_warning_kind kind;
			const certpin_error *e = certpin_warnings_get(w, i, &kind);
			CHECK(e != NULL && e->code == CERTPIN_OK);
			CHECK(strcmp(e->file, "fuzz.json") == 0);
			CHECK(strncmp(e->path, "$.domains[", 10) == 0);
			CHECK(strcmp(certpin_warning_name(kind), "unknown") != 0);
			CHECK(e->line != 0);
			check_position(data, size, e->line, e->column);
		}
		certpin_policy *strict = NULL;
		certpin_error serr;
		certpin_err src = certpin_policy_load_mem(
		    text, size, "fuzz.json", BASE_DIR, CERTPIN_LOAD_STRICT, &strict, NULL, &serr);
		if (nw != 0) {
			CHECK(src == CERTPIN_E_STRICT && strict == NULL);
			CHECK(serr.line != 0);
			check_position(data, size, serr.line, serr.column);
		} else {
			CHECK(src == CERTPIN_OK && strict != NULL);
		}
		certpin_policy_free(strict);
	} else {
		CHECK(p == NULL && w == NULL);
		CHECK(err.code == rc);
		CHECK(err.message[0] != '\0');
		CHECK(strcmp(err.file, "fuzz.json") == 0);
		check_position(data, size, err.line, err.column);
		if (rc == CERTPIN_E_JSON)
			CHECK(!jansson_ok);
	}
	compare_with_jansson_only(text, size, rc, p, w, &err);
	certpin_warnings_free(w);
	certpin_policy_free(p);
	return 0;
}
