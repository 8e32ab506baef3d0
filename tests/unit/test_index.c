/* Host → rule index: precedence, duplicates, IP rules, scale. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "internal.h"

#define TABLE(t) (t), sizeof(t) / sizeof((t)[0])

struct rule_def {
	const char *host;
	int inc; /* include_subdomains */
};

/*
 * Parses text into *pat and keys r by it, as the loader does. The key borrows
 * pat->name, so pat must outlive r's use.
 */
static certpin_err key_rule(struct certpin_rule *r, cp_host_pattern *pat, const char *text, int inc,
                            certpin_error *err)
{
	certpin_err rc = cp_host_pattern_parse(text, strlen(text), inc, pat, err);
	if (rc == CERTPIN_OK)
		r->key = cp_host_key_make(pat, pat->name);
	return rc;
}

/*
 * Rules keyed by the policy parser, as the loader makes them. The patterns
 * whose names the keys borrow follow the rules in the same block, so
 * free(rules) releases both.
 */
static struct certpin_rule *make_rules(const struct rule_def *defs, size_t n)
{
	size_t m = n ? n : 1;
	struct certpin_rule *rules = calloc(m, sizeof *rules + sizeof(cp_host_pattern));
	assert_non_null(rules);
	cp_host_pattern *pats = (cp_host_pattern *)(void *)(rules + m);
	for (size_t i = 0; i < n; i++) {
		certpin_error err;
		if (key_rule(&rules[i], &pats[i], defs[i].host, defs[i].inc, &err) != CERTPIN_OK)
			fail_msg("rule '%s': %s", defs[i].host, err.message);
		rules[i].spec_index = (uint32_t)i;
	}
	return rules;
}

/* Position of the rule that applies to host (normalised first), or -1. */
static long lookup_pos(const cp_index *idx, const struct certpin_rule *rules, const char *host)
{
	char name[CERTPIN_HOST_MAX + 1];
	size_t len;
	int is_ip;
	if (cp_host_normalize(host, strlen(host), name, &len, &is_ip, NULL) != CERTPIN_OK)
		fail_msg("host '%s' does not normalise", host);
	const struct certpin_rule *r = cp_index_lookup(idx, name, len, is_ip);
	return r == NULL ? -1 : (long)(r - rules);
}

struct expect {
	const char *host;
	long rule; /* position in the rule list, -1 for none */
};

static void check_lookups(const struct rule_def *defs, size_t n, const struct expect *e, size_t ne)
{
	struct certpin_rule *rules = make_rules(defs, n);
	cp_index *idx = NULL;
	size_t a = 0, b = 0;
	assert_int_equal(cp_index_build(rules, n, &idx, &a, &b), CERTPIN_OK);
	for (size_t i = 0; i < ne; i++) {
		long got = lookup_pos(idx, rules, e[i].host);
		if (got != e[i].rule)
			fail_msg("host '%s': expected rule %ld (%s), got %ld (%s)", e[i].host,
			         e[i].rule, e[i].rule >= 0 ? defs[e[i].rule].host : "none", got,
			         got >= 0 ? defs[got].host : "none");
	}
	cp_index_free(idx);
	free(rules);
}

/* ---- precedence --------------------------------------------------------- */

static void exact_name_beats_star_and_double_star(void **state)
{
	(void)state;
	static const struct rule_def r[] = {
	    {"**.example.com", 0}, {"*.example.com", 0}, {"api.example.com", 0}};
	static const struct expect e[] = {
	    {"api.example.com", 2},   {"API.Example.Com.", 2},
	    {"www.example.com", 1},   {"example.com", 0},
	    {"a.api.example.com", 0}, {"a.b.example.com", 0},
	    {"example.org", -1},      {"com", -1},
	};
	check_lookups(TABLE(r), TABLE(e));
}

static void longest_suffix_wins(void **state)
{
	(void)state;
	static const struct rule_def r[] = {{"**.example.com", 0}, {"**.b.example.com", 0}};
	static const struct expect e[] = {
	    {"a.b.example.com", 1}, {"b.example.com", 1},  {"x.y.b.example.com", 1},
	    {"a.c.example.com", 0}, {"ab.example.com", 0}, {"b.example.com.evil.net", -1},
	};
	check_lookups(TABLE(r), TABLE(e));
}

static void longer_double_star_beats_shorter_star(void **state)
{
	(void)state;
	static const struct rule_def r[] = {{"*.example.com", 0}, {"**.a.example.com", 0}};
	static const struct expect e[] = {
	    {"a.example.com", 1},
	    {"x.a.example.com", 1},
	    {"b.example.com", 0},
	    {"x.b.example.com", -1},
	};
	check_lookups(TABLE(r), TABLE(e));
}

static void star_beats_double_star_on_the_same_suffix(void **state)
{
	(void)state;
	static const struct rule_def r[] = {{"**.example.com", 0}, {"*.example.com", 0}};
	static const struct expect e[] = {
	    {"a.example.com", 1},
	    {"example.com", 0},
	    {"a.b.example.com", 0},
	};
	check_lookups(TABLE(r), TABLE(e));
}

static void double_star_applies_where_star_is_too_shallow(void **state)
{
	(void)state;
	static const struct rule_def r[] = {{"**.example.com", 0}, {"*.b.example.com", 0}};
	static const struct expect e[] = {
	    {"a.b.example.com", 1},     /* longer suffix */
	    {"x.a.b.example.com", 0},   /* *.b is one label only */
	    {"b.example.com", 0},       /* *.b does not match b itself */
	    {"q.r.s.t.example.com", 0}, /* any depth */
	};
	check_lookups(TABLE(r), TABLE(e));
}

static void star_alone_matches_nothing_deeper_or_at_the_apex(void **state)
{
	(void)state;
	static const struct rule_def r[] = {{"*.example.com", 0}};
	static const struct expect e[] = {
	    {"a.example.com", 0},
	    {"example.com", -1},
	    {"a.b.example.com", -1},
	};
	check_lookups(TABLE(r), TABLE(e));
}

static void include_subdomains_is_the_same_as_double_star(void **state)
{
	(void)state;
	static const struct rule_def r[] = {{"example.com", 1}, {"*.other.com", 0}};
	static const struct expect e[] = {
	    {"example.com", 0},   {"a.example.com", 0}, {"a.b.c.example.com", 0},
	    {"xexample.com", -1}, {"a.other.com", 1},   {"other.com", -1},
	};
	check_lookups(TABLE(r), TABLE(e));
}

static void exclude_rules_are_found_like_any_rule(void **state)
{
	(void)state;
	static const struct rule_def d[] = {{"**.example.com", 0}, {"open.example.com", 1}};
	struct certpin_rule *rules = make_rules(TABLE(d));
	rules[1].exclude = 1;
	cp_index *idx = NULL;
	assert_int_equal(cp_index_build(rules, 2, &idx, NULL, NULL), CERTPIN_OK);
	assert_int_equal(lookup_pos(idx, rules, "a.open.example.com"), 1);
	assert_int_equal(lookup_pos(idx, rules, "open.example.com"), 1);
	assert_int_equal(lookup_pos(idx, rules, "closed.example.com"), 0);
	cp_index_free(idx);
	free(rules);
}

/* ---- IP literals -------------------------------------------------------- */

static void ip_rules_match_exactly_and_take_no_patterns(void **state)
{
	(void)state;
	static const struct rule_def r[] = {
	    {"1.2.3.4", 0}, {"2001:db8::1", 0}, {"**.example.com", 0}, {"10.0.0.1", 0}};
	static const struct expect e[] = {
	    {"1.2.3.4", 0},     {"1.2.3.4.", 0},      {"[2001:DB8:0::1]", 1},
	    {"2001:db8::1", 1}, {"1.2.3.5", -1},      {"2001:db8::2", -1},
	    {"10.0.0.1", 3},    {"a.example.com", 2}, {"::1", -1},
	};
	check_lookups(TABLE(r), TABLE(e));

	/* An IP lookup never walks to patterns, whatever the text. */
	struct certpin_rule *rules = make_rules(TABLE(r));
	cp_index *idx = NULL;
	assert_int_equal(cp_index_build(rules, 4, &idx, NULL, NULL), CERTPIN_OK);
	assert_null(cp_index_lookup(idx, "a.example.com", 13, 1));
	assert_non_null(cp_index_lookup(idx, "a.example.com", 13, 0));
	cp_index_free(idx);
	free(rules);
}

/* ---- duplicates --------------------------------------------------------- */

struct dup_case {
	struct rule_def r[4];
	size_t n;
	certpin_err rc;
	size_t a, b;
};

static void duplicates_are_reported_with_both_positions(void **state)
{
	(void)state;
	static const struct dup_case t[] = {
	    /* exact */
	    {{{"a.example.com", 0}, {"A.Example.COM.", 0}}, 2, CERTPIN_E_DUPLICATE, 0, 1},
	    {{{"1.2.3.4", 0}, {"x.com", 0}, {"1.2.3.4.", 0}}, 3, CERTPIN_E_DUPLICATE, 0, 2},
	    {{{"::1", 0}, {"0:0::1", 0}}, 2, CERTPIN_E_DUPLICATE, 0, 1},
	    /* wildcard */
	    {{{"x.com", 0}, {"*.example.com", 0}, {"y.com", 0}, {"*.EXAMPLE.com", 0}},
	     4,
	     CERTPIN_E_DUPLICATE,
	     1,
	     3},
	    /* subtree, spelled both ways */
	    {{{"api.example.com", 1}, {"**.api.example.com", 0}}, 2, CERTPIN_E_DUPLICATE, 0, 1},
	    {{{"**.example.com", 0}, {"**.example.com.", 0}}, 2, CERTPIN_E_DUPLICATE, 0, 1},
	    {{{"example.com", 1}, {"b.com", 0}, {"example.com", 1}}, 3, CERTPIN_E_DUPLICATE, 0, 2},
	    /* same name, different kinds: not duplicates */
	    {{{"example.com", 0}, {"*.example.com", 0}, {"**.example.com", 0}},
	     3,
	     CERTPIN_OK,
	     0,
	     0},
	    {{{"a.example.com", 0}, {"b.example.com", 0}}, 2, CERTPIN_OK, 0, 0},
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		struct certpin_rule *rules = make_rules(t[i].r, t[i].n);
		cp_index *idx = NULL;
		size_t a = 99, b = 99;
		certpin_err rc = cp_index_build(rules, t[i].n, &idx, &a, &b);
		if (rc != t[i].rc)
			fail_msg("case %zu ('%s'...): expected %d, got %d", i, t[i].r[0].host,
			         t[i].rc, rc);
		if (rc == CERTPIN_E_DUPLICATE) {
			assert_null(idx);
			if (a != t[i].a || b != t[i].b)
				fail_msg("case %zu: expected positions %zu,%zu, got %zu,%zu", i,
				         t[i].a, t[i].b, a, b);
		}
		cp_index_free(idx);
		free(rules);
	}
}

/* ---- edges -------------------------------------------------------------- */

static void empty_index_finds_nothing(void **state)
{
	(void)state;
	cp_index *idx = NULL;
	assert_int_equal(cp_index_build(NULL, 0, &idx, NULL, NULL), CERTPIN_OK);
	assert_non_null(idx);
	assert_null(cp_index_lookup(idx, "example.com", 11, 0));
	assert_true(cp_index_memory(idx) > 0);
	cp_index_free(idx);
	cp_index_free(NULL);
	assert_null(cp_index_lookup(NULL, "example.com", 11, 0));
	assert_int_equal(cp_index_memory(NULL), 0);
}

static void lookup_refuses_unnormalised_or_oversized_hosts(void **state)
{
	(void)state;
	static const struct rule_def d[] = {{"**.example.com", 0}};
	struct certpin_rule *rules = make_rules(TABLE(d));
	cp_index *idx = NULL;
	assert_int_equal(cp_index_build(rules, 1, &idx, NULL, NULL), CERTPIN_OK);
	assert_null(cp_index_lookup(idx, "a.example.com.", 14, 0)); /* empty last label */
	assert_null(cp_index_lookup(idx, "", 0, 0));
	char big[CERTPIN_HOST_MAX + 20];
	memset(big, 'a', sizeof big);
	memcpy(big + sizeof big - 12, ".example.com", 12);
	assert_null(cp_index_lookup(idx, big, sizeof big, 0));
	/* 127 one-letter labels is the most a normalised name can have. */
	char many[CERTPIN_HOST_MAX + 1];
	size_t o = 0;
	for (int i = 0; i < 120; i++) {
		many[o++] = 'a';
		many[o++] = '.';
	}
	memcpy(many + o, "example.com", 11);
	o += 11;
	assert_ptr_equal(cp_index_lookup(idx, many, o, 0), &rules[0]);
	cp_index_free(idx);
	free(rules);
}

static void build_refuses_malformed_rule_patterns(void **state)
{
	(void)state;
	static const struct rule_def d[] = {{"example.com", 0}};
	struct certpin_rule *rules = make_rules(TABLE(d));
	cp_index *idx = NULL;
	rules[0].key.kind = 3;
	assert_int_equal(cp_index_build(rules, 1, &idx, NULL, NULL), CERTPIN_E_INVALID_ARG);
	assert_null(idx);
	rules[0].key.kind = CP_HOST_EXACT;
	rules[0].key.len = 0;
	assert_int_equal(cp_index_build(rules, 1, &idx, NULL, NULL), CERTPIN_E_INVALID_ARG);
	assert_int_equal(cp_index_build(rules, 1, NULL, NULL, NULL), CERTPIN_E_INVALID_ARG);
	free(rules);
}

/* ---- against a reference ------------------------------------------------ */

static uint32_t rng_state = 12345;

static uint32_t rnd(uint32_t bound)
{
	rng_state = rng_state * 1103515245u + 12345u;
	return (rng_state >> 8) % bound;
}

/* A random name of 1..max labels over a tiny alphabet, so names collide often. */
static size_t random_name(char *buf, uint32_t max)
{
	static const char *const labels[] = {"a", "b", "ab", "x-y", "com"};
	uint32_t n = 1 + rnd(max);
	size_t o = 0;
	for (uint32_t i = 0; i < n; i++) {
		const char *l = labels[rnd(5)];
		if (i > 0)
			buf[o++] = '.';
		memcpy(buf + o, l, strlen(l));
		o += strlen(l);
	}
	buf[o] = '\0';
	return o;
}

static size_t count_labels(const char *s, size_t n)
{
	size_t k = 1;
	for (size_t i = 0; i < n; i++)
		k += s[i] == '.';
	return k;
}

/* The precedence rules written as a linear scan: the slow, obvious version. */
static const struct certpin_rule *reference_lookup(const struct certpin_rule *rules, size_t n,
                                                   const char *host, size_t len)
{
	const struct certpin_rule *best = NULL;
	size_t best_score = 0;
	for (size_t i = 0; i < n; i++) {
		const cp_host_key *p = &rules[i].key;
		size_t score = 0;
		int tail = len > p->len && host[len - p->len - 1] == '.' &&
		           memcmp(host + len - p->len, p->name, p->len) == 0;
		int same = len == p->len && memcmp(host, p->name, len) == 0;
		switch (p->kind) {
		case CP_HOST_EXACT:
			score = same ? 1000 : 0;
			break;
		case CP_HOST_SUBTREE:
			score = same || tail ? 2 * count_labels(p->name, p->len) : 0;
			break;
		case CP_HOST_WILDCARD:
			score = tail && count_labels(host, len) == count_labels(p->name, p->len) + 1
			            ? 2 * count_labels(p->name, p->len) + 1
			            : 0;
			break;
		default:
			fail();
		}
		if (score > best_score) {
			best_score = score;
			best = &rules[i];
		}
	}
	return best;
}

static void index_agrees_with_a_linear_scan_on_random_policies(void **state)
{
	(void)state;
	char name[64], text[80];
	for (int round = 0; round < 300; round++) {
		size_t n = 1 + rnd(40), m = 0;
		struct certpin_rule *rules = calloc(n, sizeof *rules);
		cp_host_pattern *pats = calloc(n, sizeof *pats);
		assert_non_null(rules);
		assert_non_null(pats);
		for (size_t i = 0; i < n; i++) {
			random_name(name, 4);
			uint32_t form = rnd(4);
			snprintf(text, sizeof text, "%s%s",
			         form == 1   ? "*."
			         : form == 2 ? "**."
			                     : "",
			         name);
			if (key_rule(&rules[m], &pats[m], text, form == 3, NULL) != CERTPIN_OK)
				continue; /* e.g. a pattern on one label */
			m++;
		}
		cp_index *idx = NULL;
		size_t a, b;
		certpin_err rc;
		/* Drop the later of each duplicate pair until the set builds. */
		while ((rc = cp_index_build(rules, m, &idx, &a, &b)) == CERTPIN_E_DUPLICATE) {
			assert_true(a < b && b < m);
			assert_int_equal(rules[a].key.kind, rules[b].key.kind);
			assert_string_equal(rules[a].key.name, rules[b].key.name);
			memmove(&rules[b], &rules[b + 1], (m - b - 1) * sizeof *rules);
			m--;
		}
		assert_int_equal(rc, CERTPIN_OK);
		for (int q = 0; q < 200; q++) {
			size_t len = random_name(name, 6);
			const struct certpin_rule *want = reference_lookup(rules, m, name, len);
			const struct certpin_rule *got = cp_index_lookup(idx, name, len, 0);
			if (got != want)
				fail_msg("host '%s': index gave '%s' (kind %d), reference '%s' "
				         "(kind %d)",
				         name, got ? got->key.name : "none",
				         got ? (int)got->key.kind : -1,
				         want ? want->key.name : "none",
				         want ? (int)want->key.kind : -1);
		}
		cp_index_free(idx);
		free(rules);
		free(pats);
	}
}

/* ---- scale -------------------------------------------------------------- */

#define MANY 100000u

static void hundred_thousand_rules_are_all_found(void **state)
{
	(void)state;
	struct certpin_rule *rules = calloc(MANY, sizeof *rules);
	cp_host_pattern *pats = calloc(MANY, sizeof *pats);
	assert_non_null(rules);
	assert_non_null(pats);
	char host[CERTPIN_HOST_MAX + 1];
	for (unsigned i = 0; i < MANY; i++) {
		/* Shared suffixes, so probe runs and parent walks are exercised. */
		int n = snprintf(host, sizeof host, "%sh%u.svc%u.example.com",
		                 i % 3 == 1 ? "*." : (i % 3 == 2 ? "**." : ""), i, i % 97);
		assert_true(n > 0);
		certpin_err rc = key_rule(&rules[i], &pats[i], host, 0, NULL);
		assert_int_equal(rc, CERTPIN_OK);
		rules[i].spec_index = i;
	}
	cp_index *idx = NULL;
	assert_int_equal(cp_index_build(rules, MANY, &idx, NULL, NULL), CERTPIN_OK);
	assert_true(cp_index_memory(idx) < 16u * 1024 * 1024);
	for (unsigned i = 0; i < MANY; i++) {
		const char *name = rules[i].key.name;
		const struct certpin_rule *want = &rules[i];
		switch (i % 3) {
		case 0:
			assert_ptr_equal(cp_index_lookup(idx, name, rules[i].key.len, 0), want);
			break;
		case 1: {
			int n = snprintf(host, sizeof host, "x.%s", name);
			assert_ptr_equal(cp_index_lookup(idx, host, (size_t)n, 0), want);
			n = snprintf(host, sizeof host, "x.y.%s", name);
			assert_null(cp_index_lookup(idx, host, (size_t)n, 0));
			break;
		}
		default: {
			assert_ptr_equal(cp_index_lookup(idx, name, rules[i].key.len, 0), want);
			int n = snprintf(host, sizeof host, "x.y.%s", name);
			assert_ptr_equal(cp_index_lookup(idx, host, (size_t)n, 0), want);
			break;
		}
		}
	}
	assert_null(cp_index_lookup(idx, "svc1.example.com", 16, 0));
	assert_null(cp_index_lookup(idx, "h100000.svc1.example.com", 24, 0));
	cp_index_free(idx);
	free(rules);
	free(pats);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(exact_name_beats_star_and_double_star),
	    cmocka_unit_test(longest_suffix_wins),
	    cmocka_unit_test(longer_double_star_beats_shorter_star),
	    cmocka_unit_test(star_beats_double_star_on_the_same_suffix),
	    cmocka_unit_test(double_star_applies_where_star_is_too_shallow),
	    cmocka_unit_test(star_alone_matches_nothing_deeper_or_at_the_apex),
	    cmocka_unit_test(include_subdomains_is_the_same_as_double_star),
	    cmocka_unit_test(exclude_rules_are_found_like_any_rule),
	    cmocka_unit_test(ip_rules_match_exactly_and_take_no_patterns),
	    cmocka_unit_test(duplicates_are_reported_with_both_positions),
	    cmocka_unit_test(empty_index_finds_nothing),
	    cmocka_unit_test(lookup_refuses_unnormalised_or_oversized_hosts),
	    cmocka_unit_test(build_refuses_malformed_rule_patterns),
	    cmocka_unit_test(index_agrees_with_a_linear_scan_on_random_policies),
	    cmocka_unit_test(hundred_thousand_rules_are_all_found),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
