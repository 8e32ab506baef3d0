/* Host-name normalisation, policy host patterns and pattern matching. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "internal.h"

/* ---- helpers ------------------------------------------------------------ */

/* "<label>.<label>...": `labels` labels of `len` bytes of letter c. */
static char *repeat_labels(char *buf, size_t cap, size_t labels, size_t len, char c)
{
	size_t o = 0;
	for (size_t l = 0; l < labels; l++) {
		if (l > 0)
			buf[o++] = '.';
		for (size_t k = 0; k < len; k++)
			buf[o++] = c;
	}
	assert_true(o < cap);
	buf[o] = '\0';
	return buf;
}

struct norm_case {
	const char *in;
	const char *want; /* NULL: expect CERTPIN_E_HOST */
	int is_ip;
	const char *msg; /* substring of the error message */
};

static void check_norm(const char *in, size_t n, const char *want, int want_ip, const char *msg)
{
	char out[CERTPIN_HOST_MAX + 1];
	size_t len = 99;
	int is_ip = -1;
	certpin_error err;
	memset(&err, 0, sizeof err);
	certpin_err rc = cp_host_normalize(in, n, out, &len, &is_ip, &err);
	if (want != NULL) {
		if (rc != CERTPIN_OK)
			fail_msg("'%s': expected OK, got %d (%s)", in, rc, err.message);
		if (strcmp(out, want) != 0 || len != strlen(want) || is_ip != want_ip)
			fail_msg("'%s': expected '%s' ip=%d, got '%s' (len %zu) ip=%d", in, want,
			         want_ip, out, len, is_ip);
	} else {
		if (rc != CERTPIN_E_HOST)
			fail_msg("'%s': expected CERTPIN_E_HOST, got %d ('%s')", in, rc, out);
		if (out[0] != '\0')
			fail_msg("'%s': output not cleared on error: '%s'", in, out);
		if (err.code != CERTPIN_E_HOST || (msg != NULL && strstr(err.message, msg) == NULL))
			fail_msg("'%s': message '%s' lacks '%s'", in, err.message, msg);
	}
}

static void run_norm_table(const struct norm_case *t, size_t n)
{
	for (size_t i = 0; i < n; i++)
		check_norm(t[i].in, strlen(t[i].in), t[i].want, t[i].is_ip, t[i].msg);
}

#define TABLE(t) (t), sizeof(t) / sizeof((t)[0])

/* ---- normalisation ------------------------------------------------------ */

static void normalise_lowercases_and_removes_one_trailing_dot(void **state)
{
	(void)state;
	static const struct norm_case t[] = {
	    {"Example.COM", "example.com", 0, NULL},
	    {"api.example.com", "api.example.com", 0, NULL},
	    {"example.com.", "example.com", 0, NULL},
	    {"EXAMPLE.com.", "example.com", 0, NULL},
	    {"localhost", "localhost", 0, NULL},
	    {"a", "a", 0, NULL},
	    {"example.com..", NULL, 0, "two dots"},
	    {".", NULL, 0, "only a dot"},
	    {"..", NULL, 0, "two dots"},
	    {"", NULL, 0, "empty host name"},
	};
	run_norm_table(TABLE(t));
}

static void normalise_rejects_empty_labels_and_leading_dots(void **state)
{
	(void)state;
	static const struct norm_case t[] = {
	    {"a.b.c", "a.b.c", 0, NULL},
	    {".example.com", NULL, 0, "starts with a dot"},
	    {"a..example.com", NULL, 0, "empty label at offset 2"},
	    {"example..com", NULL, 0, "empty label at offset 8"},
	    {"..example.com", NULL, 0, "starts with a dot"},
	    {".", NULL, 0, "only a dot"},
	};
	run_norm_table(TABLE(t));
}

static void normalise_accepts_letters_digits_hyphen_underscore_only(void **state)
{
	(void)state;
	static const struct norm_case t[] = {
	    {"_dmarc.example.com", "_dmarc.example.com", 0, NULL},
	    {"a_b.example.com", "a_b.example.com", 0, NULL},
	    {"a-b.example.com", "a-b.example.com", 0, NULL},
	    {"a-.example.com", "a-.example.com", 0, NULL},
	    {"xn--bcher-kva.example", "xn--bcher-kva.example", 0, NULL},
	    {"123.example.com", "123.example.com", 0, NULL},
	    {"1e100.net", "1e100.net", 0, NULL},
	    {"-a.example.com", NULL, 0, "offset 0 starts with '-'"},
	    {"a.-b.example.com", NULL, 0, "offset 2 starts with '-'"},
	    {"exa!mple.com", NULL, 0, "invalid character '!' at offset 3"},
	    {"exa mple.com", NULL, 0, "invalid character 0x20 at offset 3"},
	    {"a/b.com", NULL, 0, "'/' at offset 1"},
	    {"*.example.com", NULL, 0, "'*' at offset 0"},
	    {"a\tb.com", NULL, 0, "0x09 at offset 1"},
	    {"a@b.com", NULL, 0, "'@'"},
	    {"a%2eb.com", NULL, 0, "'%'"},
	};
	run_norm_table(TABLE(t));
}

static void normalise_rejects_non_ascii_and_says_punycode(void **state)
{
	(void)state;
	static const struct norm_case t[] = {
	    {"b\xc3\xbc"
	     "cher.example",
	     NULL, 0, "non-ASCII host name: write internationalised names as punycode (xn--...)"},
	    {"example.\xff", NULL, 0, "byte 0xff at offset 8"},
	    {"\x80", NULL, 0, "punycode"},
	};
	run_norm_table(TABLE(t));
}

static void normalise_rejects_nul_inside(void **state)
{
	(void)state;
	check_norm("exam\0ple.com", 12, NULL, 0, "NUL byte at offset 4");
	check_norm("example.com\0", 12, NULL, 0, "NUL byte at offset 11");
	check_norm("example.com\0junk", 11, "example.com", 0, NULL); /* n stops before it */
}

/* Concatenates parts into buf (NULL-terminated list). */
static const char *join(char *buf, size_t cap, ...)
{
	va_list ap;
	size_t o = 0;
	va_start(ap, cap);
	for (const char *p = va_arg(ap, const char *); p != NULL; p = va_arg(ap, const char *)) {
		size_t l = strlen(p);
		assert_true(o + l < cap);
		memcpy(buf + o, p, l);
		o += l;
	}
	va_end(ap);
	buf[o] = '\0';
	return buf;
}

static void normalise_limits_labels_to_63_bytes(void **state)
{
	(void)state;
	char in[160], l63[80], l64[80];
	repeat_labels(l63, sizeof l63, 1, 63, 'a');
	repeat_labels(l64, sizeof l64, 1, 64, 'a');
	join(in, sizeof in, l63, ".com", NULL);
	check_norm(in, strlen(in), in, 0, NULL);
	join(in, sizeof in, l64, ".com", NULL);
	check_norm(in, strlen(in), NULL, 0, "is 64 bytes long; the limit is 63");
	join(in, sizeof in, "com.", l64, NULL);
	check_norm(in, strlen(in), NULL, 0, "label at offset 4 is 64 bytes");
	join(in, sizeof in, "x.", l63, ".", l63, ".com", NULL);
	check_norm(in, strlen(in), in, 0, NULL);
}

static void normalise_limits_names_to_253_bytes(void **state)
{
	(void)state;
	char in[300], want[300], l61[64], l63x3[200];
	/* 3 labels of 63 + "." + 61 = 253. */
	repeat_labels(l63x3, sizeof l63x3, 3, 63, 'a');
	repeat_labels(l61, sizeof l61, 1, 61, 'b');
	join(want, sizeof want, l63x3, ".", l61, NULL);
	assert_int_equal(strlen(want), 253);
	check_norm(want, 253, want, 0, NULL);
	join(in, sizeof in, want, ".", NULL); /* 253 + trailing dot is fine */
	check_norm(in, strlen(in), want, 0, NULL);
	join(in, sizeof in, want, "b", NULL);
	check_norm(in, strlen(in), NULL, 0, "254 bytes long; the limit is 253");
	join(in, sizeof in, want, "b.", NULL);
	check_norm(in, strlen(in), NULL, 0, "254 bytes long; the limit is 253");
}

static void normalise_canonicalises_ipv4_and_refuses_lookalikes(void **state)
{
	(void)state;
	static const struct norm_case t[] = {
	    {"1.2.3.4", "1.2.3.4", 1, NULL},
	    {"1.2.3.4.", "1.2.3.4", 1, NULL},
	    {"0.0.0.0", "0.0.0.0", 1, NULL},
	    {"255.255.255.255", "255.255.255.255", 1, NULL},
	    {"example.1a", "example.1a", 0, NULL},
	    {"example.0xg", "example.0xg", 0, NULL},
	    {"1.2.3", NULL, 0, "looks like an IP address but is not a valid one"},
	    {"1.2.3.04", NULL, 0, "looks like an IP address"},
	    {"01.2.3.4", NULL, 0, "looks like an IP address"},
	    {"256.1.1.1", NULL, 0, "looks like an IP address"},
	    {"1.2.3.4.5", NULL, 0, "looks like an IP address"},
	    {"127.1", NULL, 0, "looks like an IP address"},
	    {"2130706433", NULL, 0, "looks like an IP address"},
	    {"0x7f.0.0.1", NULL, 0, "looks like an IP address"},
	    {"0X7F000001", NULL, 0, "looks like an IP address"},
	    {"example.0x", NULL, 0, "looks like an IP address"},
	    {"example.123", NULL, 0, "looks like an IP address"},
	    {"a.1.2.3.4", NULL, 0, "looks like an IP address"},
	};
	run_norm_table(TABLE(t));
}

static void normalise_canonicalises_ipv6_with_or_without_brackets(void **state)
{
	(void)state;
	static const struct norm_case t[] = {
	    {"::1", "::1", 1, NULL},
	    {"0:0::1", "::1", 1, NULL},
	    {"[::1]", "::1", 1, NULL},
	    {"[0:0:0:0:0:0:0:1]", "::1", 1, NULL},
	    {"2001:DB8:0:0:0:0:0:1", "2001:db8::1", 1, NULL},
	    {"2001:0db8::0001", "2001:db8::1", 1, NULL},
	    {"::FFFF:1.2.3.4", NULL, 0, "embeds an IPv4 address"},
	    {"[::1", NULL, 0, "bracketed host is not a valid IPv6 address"},
	    {"[]", NULL, 0, "bracketed host"},
	    {"[", NULL, 0, "bracketed host"},
	    {"[1.2.3.4]", NULL, 0, "bracketed host"},
	    {"[example.com]", NULL, 0, "bracketed host"},
	    {"[::1].", NULL, 0, "bracketed host"},
	    {"::1.", NULL, 0, "not a valid IPv6 address"},
	    {"fe80::1%eth0", NULL, 0, "not a valid IPv6 address"},
	    /* IPv6 spellings of an IPv4 address would bypass the IPv4 rule */
	    {"::ffff:10.0.0.5", NULL, 0, "embeds an IPv4 address"},
	    {"[::ffff:10.0.0.5]", NULL, 0, "embeds an IPv4 address"},
	    {"::ffff:a00:5", NULL, 0, "embeds an IPv4 address"},
	    {"::10.0.0.5", NULL, 0, "embeds an IPv4 address"},
	    {"::", "::", 1, NULL},
	    {"::ffff:0:a00:5", "::ffff:0:a00:5", 1, NULL},
	    {"1:2:3:4:5:6:7:8:9", NULL, 0, "not a valid IPv6 address"},
	    {"example.com:443", NULL, 0, "a port does not belong"},
	};
	run_norm_table(TABLE(t));
}

static void public_normalize_checks_arguments_and_buffer(void **state)
{
	(void)state;
	char out[CERTPIN_HOST_MAX + 1];
	char small[16];
	certpin_error err;
	assert_int_equal(certpin_host_normalize("API.Example.com.", out, sizeof out, &err),
	                 CERTPIN_OK);
	assert_string_equal(out, "api.example.com");
	assert_int_equal(certpin_host_normalize("[::1]", out, sizeof out, NULL), CERTPIN_OK);
	assert_string_equal(out, "::1");
	assert_int_equal(certpin_host_normalize("a..b", out, sizeof out, &err), CERTPIN_E_HOST);
	assert_string_equal(out, "");
	assert_non_null(strstr(err.message, "empty label"));
	assert_int_equal(certpin_host_normalize("example.com", small, sizeof small, &err),
	                 CERTPIN_E_INVALID_ARG);
	assert_int_equal(certpin_host_normalize(NULL, out, sizeof out, &err),
	                 CERTPIN_E_INVALID_ARG);
	assert_int_equal(certpin_host_normalize("a", NULL, sizeof out, &err),
	                 CERTPIN_E_INVALID_ARG);
	/* A very long NUL-terminated input is refused without reading past the cap. */
	char *big = malloc(5000);
	assert_non_null(big);
	memset(big, 'a', 4999);
	big[4999] = '\0';
	assert_int_equal(certpin_host_normalize(big, out, sizeof out, &err), CERTPIN_E_HOST);
	assert_non_null(strstr(err.message, "longer than 253"));
	free(big);
}

/* ---- policy patterns ---------------------------------------------------- */

struct pat_case {
	const char *in;
	int inc; /* include_subdomains */
	certpin_err rc;
	cp_host_kind kind;
	const char *name; /* or the message substring when rc != OK */
	int is_ip;
	const char *text; /* canonical text */
};

static void run_pat_table(const struct pat_case *t, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		cp_host_pattern p;
		certpin_error err;
		memset(&err, 0, sizeof err);
		certpin_err rc =
		    cp_host_pattern_parse(t[i].in, strlen(t[i].in), t[i].inc, &p, &err);
		if (rc != t[i].rc)
			fail_msg("'%s' inc=%d: expected %d, got %d (%s)", t[i].in, t[i].inc,
			         t[i].rc, rc, err.message);
		if (rc != CERTPIN_OK) {
			if (strstr(err.message, t[i].name) == NULL)
				fail_msg("'%s' inc=%d: message '%s' lacks '%s'", t[i].in, t[i].inc,
				         err.message, t[i].name);
			continue;
		}
		if (p.kind != t[i].kind || strcmp(p.name, t[i].name) != 0 ||
		    p.len != strlen(t[i].name) || p.is_ip != t[i].is_ip)
			fail_msg("'%s' inc=%d: got kind %d name '%s' ip %d", t[i].in, t[i].inc,
			         p.kind, p.name, p.is_ip);
		char text[CERTPIN_HOST_MAX + 4];
		size_t len = cp_host_pattern_text(&p, text, sizeof text);
		if (strcmp(text, t[i].text) != 0 || len != strlen(t[i].text))
			fail_msg("'%s' inc=%d: text '%s', expected '%s'", t[i].in, t[i].inc, text,
			         t[i].text);
	}
}

static void pattern_accepts_exact_names_and_ip_literals(void **state)
{
	(void)state;
	static const struct pat_case t[] = {
	    {"api.example.com", 0, CERTPIN_OK, CP_HOST_EXACT, "api.example.com", 0,
	     "api.example.com"},
	    {"API.Example.COM.", 0, CERTPIN_OK, CP_HOST_EXACT, "api.example.com", 0,
	     "api.example.com"},
	    {"localhost", 0, CERTPIN_OK, CP_HOST_EXACT, "localhost", 0, "localhost"},
	    {"1.2.3.4", 0, CERTPIN_OK, CP_HOST_EXACT, "1.2.3.4", 1, "1.2.3.4"},
	    {"2001:DB8::0:1", 0, CERTPIN_OK, CP_HOST_EXACT, "2001:db8::1", 1, "2001:db8::1"},
	    {"[2001:db8::1]", 0, CERTPIN_E_HOST, 0, "without brackets", 0, NULL},
	    {"", 0, CERTPIN_E_HOST, 0, "empty host name", 0, NULL},
	    {"1.2.3", 0, CERTPIN_E_HOST, 0, "looks like an IP address", 0, NULL},
	    {"a..b.com", 0, CERTPIN_E_HOST, 0, "empty label", 0, NULL},
	    {"b\xc3\xbc"
	     "cher.de",
	     0, CERTPIN_E_HOST, 0, "punycode", 0, NULL},
	};
	run_pat_table(TABLE(t));
}

static void pattern_accepts_leftmost_star_and_double_star(void **state)
{
	(void)state;
	static const struct pat_case t[] = {
	    {"*.example.com", 0, CERTPIN_OK, CP_HOST_WILDCARD, "example.com", 0, "*.example.com"},
	    {"*.EXAMPLE.com.", 0, CERTPIN_OK, CP_HOST_WILDCARD, "example.com", 0, "*.example.com"},
	    {"**.example.com", 0, CERTPIN_OK, CP_HOST_SUBTREE, "example.com", 0, "**.example.com"},
	    {"**.co.uk", 0, CERTPIN_OK, CP_HOST_SUBTREE, "co.uk", 0, "**.co.uk"},
	    {"*.a.b.c.example.com", 0, CERTPIN_OK, CP_HOST_WILDCARD, "a.b.c.example.com", 0,
	     "*.a.b.c.example.com"},
	};
	run_pat_table(TABLE(t));
}

static void pattern_refuses_star_anywhere_but_the_whole_leftmost_label(void **state)
{
	(void)state;
	static const struct pat_case t[] = {
	    {"*", 0, CERTPIN_E_HOST, 0,
	     "'*' at offset 0: a wildcard must be the whole leftmost "
	     "label",
	     0, NULL},
	    {"**", 0, CERTPIN_E_HOST, 0, "'*' at offset 0", 0, NULL},
	    {"*.", 0, CERTPIN_E_HOST, 0, "pattern '*.' has no name after it", 0, NULL},
	    {"**.", 0, CERTPIN_E_HOST, 0, "pattern '**.' has no name after it", 0, NULL},
	    {"***.example.com", 0, CERTPIN_E_HOST, 0, "'*' at offset 0", 0, NULL},
	    {"*b.example.com", 0, CERTPIN_E_HOST, 0, "'*' at offset 0", 0, NULL},
	    {"a*.example.com", 0, CERTPIN_E_HOST, 0, "'*' at offset 1", 0, NULL},
	    {"a.*.com", 0, CERTPIN_E_HOST, 0, "'*' at offset 2", 0, NULL},
	    {"*.*.example.com", 0, CERTPIN_E_HOST, 0, "'*' at offset 2", 0, NULL},
	    {"**.*.example.com", 0, CERTPIN_E_HOST, 0, "'*' at offset 3", 0, NULL},
	    {"example.*", 0, CERTPIN_E_HOST, 0, "'*' at offset 8", 0, NULL},
	    {"*..example.com", 0, CERTPIN_E_HOST, 0, "starts with a dot (offset 2)", 0, NULL},
	    {"*.example.com..", 0, CERTPIN_E_HOST, 0, "two dots", 0, NULL},
	    {"*.-a.example.com", 0, CERTPIN_E_HOST, 0, "offset 2 starts with '-'", 0, NULL},
	    {"*.b\xc3\xbc"
	     "cher.de",
	     0, CERTPIN_E_HOST, 0, "punycode", 0, NULL},
	};
	run_pat_table(TABLE(t));
}

static void pattern_refuses_whole_top_level_domains(void **state)
{
	(void)state;
	static const struct pat_case t[] = {
	    {"*.com", 0, CERTPIN_E_HOST, 0, "pattern covers a whole top-level domain", 0, NULL},
	    {"**.com", 0, CERTPIN_E_HOST, 0, "pattern covers a whole top-level domain", 0, NULL},
	    {"com", 1, CERTPIN_E_HOST, 0, "pattern covers a whole top-level domain", 0, NULL},
	    {"com", 0, CERTPIN_OK, CP_HOST_EXACT, "com", 0, "com"},
	    {"*.example.com", 0, CERTPIN_OK, CP_HOST_WILDCARD, "example.com", 0, "*.example.com"},
	};
	run_pat_table(TABLE(t));
}

static void include_subdomains_turns_exact_name_into_subtree_only(void **state)
{
	(void)state;
	static const struct pat_case t[] = {
	    {"api.example.com", 1, CERTPIN_OK, CP_HOST_SUBTREE, "api.example.com", 0,
	     "**.api.example.com"},
	    {"*.example.com", 1, CERTPIN_E_HOST, 0, "include_subdomains cannot be combined", 0,
	     NULL},
	    {"**.example.com", 1, CERTPIN_E_HOST, 0, "include_subdomains cannot be combined", 0,
	     NULL},
	    {"1.2.3.4", 1, CERTPIN_E_HOST, 0, "include_subdomains does not apply to an IP", 0,
	     NULL},
	    {"::1", 1, CERTPIN_E_HOST, 0, "include_subdomains does not apply to an IP", 0, NULL},
	};
	run_pat_table(TABLE(t));
}

static void pattern_refuses_wildcards_on_ip_literals(void **state)
{
	(void)state;
	static const struct pat_case t[] = {
	    {"*.1.2.3.4", 0, CERTPIN_E_HOST, 0, "a wildcard cannot apply to an IP address", 0,
	     NULL},
	    {"**.1.2.3.4", 0, CERTPIN_E_HOST, 0, "a wildcard cannot apply to an IP address", 0,
	     NULL},
	    {"**.2001:db8::1", 0, CERTPIN_E_HOST, 0, "a wildcard cannot apply to an IP", 0, NULL},
	    {"*.[::1]", 0, CERTPIN_E_HOST, 0, "without brackets", 0, NULL},
	    {"*.2.3.4", 0, CERTPIN_E_HOST, 0, "looks like an IP address", 0, NULL},
	    {"1.2.3.4", 0, CERTPIN_OK, CP_HOST_EXACT, "1.2.3.4", 1, "1.2.3.4"},
	};
	run_pat_table(TABLE(t));
}

static void pattern_text_truncates_like_snprintf(void **state)
{
	(void)state;
	cp_host_pattern p;
	assert_int_equal(cp_host_pattern_parse("**.example.com", 14, 0, &p, NULL), CERTPIN_OK);
	char buf[6];
	assert_int_equal(cp_host_pattern_text(&p, buf, sizeof buf), 14);
	assert_string_equal(buf, "**.ex");
	assert_int_equal(cp_host_pattern_text(&p, NULL, 0), 14);
	p.kind = (cp_host_kind)7;
	assert_int_equal(cp_host_pattern_text(&p, buf, sizeof buf), 0);
	assert_string_equal(buf, "");
}

/* ---- matching through the index ----------------------------------------- */

/* 1 when the single pattern `pattern` applies to `host`. */
static int pattern_matches(const char *pattern, int inc, const char *host)
{
	struct certpin_rule rule;
	cp_host_pattern pat; /* rule.key borrows pat.name */
	memset(&rule, 0, sizeof rule);
	assert_int_equal(cp_host_pattern_parse(pattern, strlen(pattern), inc, &pat, NULL),
	                 CERTPIN_OK);
	rule.key = cp_host_key_make(&pat, pat.name);
	cp_index *idx = NULL;
	assert_int_equal(cp_index_build(&rule, 1, &idx, NULL, NULL), CERTPIN_OK);
	char name[CERTPIN_HOST_MAX + 1];
	size_t len;
	int is_ip;
	int hit = 0;
	if (cp_host_normalize(host, strlen(host), name, &len, &is_ip, NULL) == CERTPIN_OK)
		hit = cp_index_lookup(idx, name, len, is_ip) == &rule;
	cp_index_free(idx);
	return hit;
}

struct match_case {
	const char *pattern;
	int inc;
	const char *host;
	int match;
};

static void run_match_table(const struct match_case *t, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (pattern_matches(t[i].pattern, t[i].inc, t[i].host) != t[i].match)
			fail_msg("pattern '%s' (inc %d) vs host '%s': expected %s", t[i].pattern,
			         t[i].inc, t[i].host, t[i].match ? "match" : "no match");
}

static void star_matches_exactly_one_extra_label(void **state)
{
	(void)state;
	/* OkHttp CertificatePinner semantics. */
	static const struct match_case t[] = {
	    {"*.example.com", 0, "a.example.com", 1},
	    {"*.example.com", 0, "A.Example.COM.", 1},
	    {"*.example.com", 0, "_x.example.com", 1},
	    {"*.example.com", 0, "example.com", 0},
	    {"*.example.com", 0, "a.b.example.com", 0},
	    {"*.example.com", 0, "aexample.com", 0},
	    {"*.example.com", 0, "a.example.com.evil.net", 0},
	    {"*.example.com", 0, "example.org", 0},
	};
	run_match_table(TABLE(t));
}

static void double_star_matches_the_name_and_any_depth(void **state)
{
	(void)state;
	static const struct match_case t[] = {
	    {"**.example.co.uk", 0, "example.co.uk", 1},
	    {"**.example.co.uk", 0, "a.example.co.uk", 1},
	    {"**.example.co.uk", 0, "a.b.c.example.co.uk", 1},
	    {"**.example.co.uk", 0, "EXAMPLE.CO.UK.", 1},
	    {"**.example.co.uk", 0, "anotherexample.co.uk", 0},
	    {"**.example.co.uk", 0, "co.uk", 0},
	    {"**.example.co.uk", 0, "example.co.uk.evil.net", 0},
	    {"example.co.uk", 1, "a.b.example.co.uk", 1},
	    {"example.co.uk", 1, "example.co.uk", 1},
	    {"example.co.uk", 1, "xexample.co.uk", 0},
	};
	run_match_table(TABLE(t));
}

static void exact_name_matches_only_itself(void **state)
{
	(void)state;
	static const struct match_case t[] = {
	    {"api.example.com", 0, "api.example.com", 1},
	    {"api.example.com", 0, "API.EXAMPLE.COM.", 1},
	    {"api.example.com", 0, "a.api.example.com", 0},
	    {"api.example.com", 0, "example.com", 0},
	    {"api.example.com", 0, "api.example.co", 0},
	    {"::1", 0, "[0:0::1]", 1},
	    {"::1", 0, "::2", 0},
	    {"1.2.3.4", 0, "1.2.3.4.", 1},
	    {"1.2.3.4", 0, "1.2.3.5", 0},
	};
	run_match_table(TABLE(t));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(normalise_lowercases_and_removes_one_trailing_dot),
	    cmocka_unit_test(normalise_rejects_empty_labels_and_leading_dots),
	    cmocka_unit_test(normalise_accepts_letters_digits_hyphen_underscore_only),
	    cmocka_unit_test(normalise_rejects_non_ascii_and_says_punycode),
	    cmocka_unit_test(normalise_rejects_nul_inside),
	    cmocka_unit_test(normalise_limits_labels_to_63_bytes),
	    cmocka_unit_test(normalise_limits_names_to_253_bytes),
	    cmocka_unit_test(normalise_canonicalises_ipv4_and_refuses_lookalikes),
	    cmocka_unit_test(normalise_canonicalises_ipv6_with_or_without_brackets),
	    cmocka_unit_test(public_normalize_checks_arguments_and_buffer),
	    cmocka_unit_test(pattern_accepts_exact_names_and_ip_literals),
	    cmocka_unit_test(pattern_accepts_leftmost_star_and_double_star),
	    cmocka_unit_test(pattern_refuses_star_anywhere_but_the_whole_leftmost_label),
	    cmocka_unit_test(pattern_refuses_whole_top_level_domains),
	    cmocka_unit_test(include_subdomains_turns_exact_name_into_subtree_only),
	    cmocka_unit_test(pattern_refuses_wildcards_on_ip_literals),
	    cmocka_unit_test(pattern_text_truncates_like_snprintf),
	    cmocka_unit_test(star_matches_exactly_one_extra_label),
	    cmocka_unit_test(double_star_matches_the_name_and_any_depth),
	    cmocka_unit_test(exact_name_matches_only_itself),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
