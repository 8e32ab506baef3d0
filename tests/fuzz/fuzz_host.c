/* Target: host-name normalisation (cp_host_normalize), policy host patterns
 * (cp_host_pattern_parse with and without include_subdomains, and
 * cp_host_pattern_text), a one-rule index over each accepted pattern, and
 * RFC 3339 times (certpin_time_parse / certpin_time_format).
 *
 * Invariants (abort() on violation):
 *  - normalised names hold only [a-z0-9-_.:], are at most 253 bytes, and
 *    normalising them again gives the same name and IP flag;
 *  - an accepted pattern's text parses back to the same pattern, and an
 *    exact pattern equals the lookup-side normalisation of the same input;
 *  - the index finds an accepted pattern for a host it must match;
 *  - a failure always carries CERTPIN_E_HOST / CERTPIN_E_TIME and a message;
 *  - format(parse(x)) parses back to the same time, and format refuses
 *    exactly the times outside years 0000-9999.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "internal.h"


static void check_name(const char *name, size_t len)
{
	CHECK(len > 0 && len <= CERTPIN_HOST_MAX);
	CHECK(strlen(name) == len);
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		CHECK((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		      c == '.' || c == ':');
	}
}

static void check_failure(certpin_err rc, const certpin_error *err, certpin_err code)
{
	CHECK(rc == code);
	CHECK(err->code == code);
	CHECK(err->message[0] != '\0');
}

static void fuzz_normalize(const char *s, size_t n)
{
	char out[CERTPIN_HOST_MAX + 1], again[CERTPIN_HOST_MAX + 1];
	size_t len, len2;
	int ip, ip2;
	certpin_error err;

	certpin_err rc = cp_host_normalize(s, n, out, &len, &ip, &err);
	if (rc != CERTPIN_OK) {
		check_failure(rc, &err, CERTPIN_E_HOST);
		CHECK(out[0] == '\0');
		return;
	}
	check_name(out, len);
	CHECK(cp_host_normalize(out, len, again, &len2, &ip2, &err) == CERTPIN_OK);
	CHECK(len2 == len && ip2 == ip && memcmp(out, again, len) == 0);
	if (!ip)
		CHECK(memchr(out, ':', len) == NULL);
}

/* The index over one rule finds it for a host that the pattern covers. */
static void check_index(const struct certpin_rule *rule)
{
	const cp_host_key *p = &rule->key;
	cp_index *idx = NULL;
	CHECK(cp_index_build(rule, 1, &idx, NULL, NULL) == CERTPIN_OK);
	CHECK(cp_index_lookup(idx, p->name, p->len, p->is_ip) ==
	      (p->kind == CP_HOST_WILDCARD ? NULL : rule));
	if (p->kind != CP_HOST_EXACT && p->len + 4 <= CERTPIN_HOST_MAX) {
		char host[CERTPIN_HOST_MAX + 1];
		memcpy(host, "x.", 2);
		memcpy(host + 2, p->name, p->len);
		CHECK(cp_index_lookup(idx, host, p->len + 2, 0) == rule);
		memcpy(host, "y.x.", 4);
		memcpy(host + 4, p->name, p->len);
		CHECK(cp_index_lookup(idx, host, p->len + 4, 0) ==
		      (p->kind == CP_HOST_SUBTREE ? rule : NULL));
		/* A suffix that is not on a label boundary never matches. */
		memcpy(host, "xx", 2);
		memcpy(host + 2, p->name, p->len);
		CHECK(cp_index_lookup(idx, host, p->len + 2, 0) == NULL);
	}
	cp_index_free(idx);
}

static void fuzz_pattern(const char *s, size_t n, int inc)
{
	struct certpin_rule rule;
	cp_host_pattern pat; /* rule.key borrows pat.name */
	cp_host_pattern back;
	certpin_error err;
	char text[CERTPIN_HOST_MAX + 4];

	memset(&rule, 0, sizeof rule);
	certpin_err rc = cp_host_pattern_parse(s, n, inc, &pat, &err);
	if (rc != CERTPIN_OK) {
		check_failure(rc, &err, CERTPIN_E_HOST);
		return;
	}
	rule.key = cp_host_key_make(&pat, pat.name);
	CHECK(rule.key.kind == pat.kind && rule.key.is_ip == pat.is_ip && rule.key.len == pat.len &&
	      rule.key.name == pat.name);
	const cp_host_pattern *p = &pat;
	check_name(p->name, p->len);
	CHECK(p->kind == CP_HOST_EXACT || p->kind == CP_HOST_WILDCARD ||
	      p->kind == CP_HOST_SUBTREE);
	CHECK(!p->is_ip || p->kind == CP_HOST_EXACT);
	CHECK(!inc || p->kind == CP_HOST_SUBTREE);
	CHECK(p->kind == CP_HOST_EXACT || memchr(p->name, '.', p->len) != NULL);

	size_t tlen = cp_host_pattern_text(p, text, sizeof text);
	CHECK(tlen > 0 && tlen < sizeof text && strlen(text) == tlen);
	CHECK(cp_host_pattern_parse(text, tlen, 0, &back, &err) == CERTPIN_OK);
	CHECK(back.kind == p->kind && back.is_ip == p->is_ip && back.len == p->len &&
	      memcmp(back.name, p->name, p->len + 1) == 0);

	if (!inc && p->kind == CP_HOST_EXACT) {
		char out[CERTPIN_HOST_MAX + 1];
		size_t len;
		int ip;
		CHECK(cp_host_normalize(s, n, out, &len, &ip, &err) == CERTPIN_OK);
		CHECK(len == p->len && ip == p->is_ip && memcmp(out, p->name, len) == 0);
	}
	check_index(&rule);
}

static void fuzz_time(const char *z)
{
	/* Years 0000-9999, the range certpin_time_format writes. */
	static const int64_t lo = -62167219200, hi = 253402300800;
	for (unsigned flags = 0; flags <= CERTPIN_TIME_DATE_END; flags++) {
		int64_t t, back;
		char buf[32];
		certpin_error err;
		certpin_err rc = certpin_time_parse(z, flags, &t, &err);
		if (rc != CERTPIN_OK) {
			check_failure(rc, &err, CERTPIN_E_TIME);
			continue;
		}
		size_t len = certpin_time_format(t, buf, sizeof buf);
		if (len == 0) {
			CHECK(t < lo || t >= hi);
			continue;
		}
		CHECK(t >= lo && t < hi);
		CHECK(len == 20 && strlen(buf) == 20);
		CHECK(certpin_time_parse(buf, CERTPIN_TIME_DATE_START, &back, &err) == CERTPIN_OK);
		CHECK(back == t);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 4096)
		return 0;
	char *copy = malloc(size + 1);
	if (copy == NULL)
		return 0;
	if (size > 0)
		memcpy(copy, data, size);
	copy[size] = '\0';

	fuzz_normalize(copy, size);
	fuzz_pattern(copy, size, 0);
	fuzz_pattern(copy, size, 1);
	fuzz_time(copy);

	char out[CERTPIN_HOST_MAX + 1];
	certpin_error err;
	certpin_err rc = certpin_host_normalize(copy, out, sizeof out, &err);
	if (rc == CERTPIN_OK)
		check_name(out, strlen(out));
	else
		check_failure(rc, &err, CERTPIN_E_HOST);

	free(copy);
	return 0;
}
