/*
 * Policies: the JSON format of ARCHITECTURE.md (every key, every refusal with
 * its code, JSON path and line:column), warnings, strict loading, pin_files,
 * pinned trust anchors, the builder API, reference counting and the caps.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "internal.h"
#include "testutil.h"

#define P1       "sha256/7HIpactkIAq2Y49orFOOQKurWxmmSFZhBCoQYcRhJ3Y="
#define P2       "sha256/fwza0LRMXouZHRC8Ei+4PyuldPRcf3UKgO/04cDM1oE="
#define TWO_PINS "\"pins\": [\"" P1 "\", \"" P2 "\"]"
#define EXP      "\"expires\": \"2027-06-01\""

/* ---- a throwaway PKI, made once ------------------------------------------ */

static EVP_PKEY *root_key, *root2_key, *int_key, *leaf_key;
static X509 *root, *root2, *inter, *leaf;

static int setup(void **state)
{
	(void)state;
	int64_t now = (int64_t)time(NULL);
	root_key = tu_key(TU_P256);
	root2_key = tu_key(TU_P256);
	int_key = tu_key(TU_P256);
	leaf_key = tu_key(TU_P256);
	root = tu_cert(root_key, "Test Root", NULL, NULL, 1, NULL, now - 3600, now + 86400);
	root2 = tu_cert(root2_key, "Test Root 2", NULL, NULL, 1, NULL, now - 3600, now + 86400);
	inter =
	    tu_cert(int_key, "Test Intermediate", root, root_key, 1, NULL, now - 3600, now + 86400);
	leaf = tu_cert(leaf_key, "api.test", inter, int_key, 0, "DNS:api.test", now - 3600,
	               now + 86400);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	X509_free(leaf);
	X509_free(inter);
	X509_free(root2);
	X509_free(root);
	EVP_PKEY_free(leaf_key);
	EVP_PKEY_free(int_key);
	EVP_PKEY_free(root2_key);
	EVP_PKEY_free(root_key);
	return 0;
}

/* ---- helpers --------------------------------------------------------------- */

/* Writes PEM certificates (NULL-terminated list) to tmpdir/name. */
static const char *write_pem_certs(const char *name, X509 *const *certs)
{
	BIO *b = BIO_new(BIO_s_mem());
	assert_non_null(b);
	for (size_t i = 0; certs[i] != NULL; i++)
		assert_int_equal(PEM_write_bio_X509(b, certs[i]), 1);
	char *data;
	long n = BIO_get_mem_data(b, &data);
	const char *path = tu_write_tmp(name, data, (size_t)n);
	BIO_free(b);
	return path;
}

/* "sha256/..." of 32 bytes derived from i (distinct for distinct i). */
static const char *fake_pin(unsigned i, char out[64])
{
	unsigned char h[32];
	for (size_t k = 0; k < sizeof h; k++)
		h[k] = (unsigned char)((i >> (8 * (k % 4))) ^ (k * 7));
	memcpy(out, "sha256/", 7);
	EVP_EncodeBlock((unsigned char *)out + 7, h, 32);
	return out;
}

static const char *pin_text(const certpin_pin *p)
{
	static char buf[CERTPIN_PIN_STRLEN];
	assert_non_null(p);
	assert_true(certpin_pin_format(p, buf, sizeof buf) > 0);
	return buf;
}

static certpin_err load(const char *json, unsigned flags, certpin_policy **p, certpin_warnings **w,
                        certpin_error *err)
{
	memset(err, 0, sizeof *err);
	return certpin_policy_load_mem(json, strlen(json), "test.json", tu_tmpdir(), flags, p, w,
	                               err);
}

/* 1-based line and column (in characters) of the first `needle` in text. */
static void pos_of(const char *text, const char *needle, unsigned *line, unsigned *col)
{
	const char *at = strstr(text, needle);
	if (at == NULL)
		fail_msg("needle %s not in the test JSON", needle);
	*line = 1;
	*col = 1;
	for (const char *c = text; c < at; c++) {
		if (*c == '\n') {
			(*line)++;
			*col = 1;
		} else if (((unsigned char)*c & 0xC0) != 0x80) {
			(*col)++;
		}
	}
}

/*
 * Loads json and expects code, path and the position of `needle` (the first
 * occurrence; NULL for no position), with no policy and no warnings left.
 */
static void expect_error_at(const char *json, certpin_err code, const char *path,
                            const char *needle, const char *msg_part)
{
	certpin_policy *p = (certpin_policy *)(uintptr_t)1;
	certpin_warnings *w = (certpin_warnings *)(uintptr_t)1;
	certpin_error err;
	certpin_err rc = load(json, 0, &p, &w, &err);
	if (rc != code)
		print_error("got %s (%s) %s\n", certpin_strerror(rc), err.path, err.message);
	assert_int_equal(rc, code);
	assert_int_equal(err.code, code);
	assert_null(p);
	assert_null(w);
	assert_string_equal(err.file, "test.json");
	assert_string_equal(err.path, path);
	if (needle != NULL) {
		unsigned line, col;
		pos_of(json, needle, &line, &col);
		assert_int_equal(err.line, line);
		assert_int_equal(err.column, col);
	}
	if (msg_part != NULL && strstr(err.message, msg_part) == NULL)
		fail_msg("message '%s' lacks '%s'", err.message, msg_part);

	/* Without the fast path for plain domains (jansson reads each one),
	 * the error is the same in every detail. */
	certpin_error slow;
	memset(&slow, 0, sizeof slow);
	p = NULL;
	assert_int_equal(cp_policy_load_mem_ex(json, strlen(json), "test.json", tu_tmpdir(), 0, 1,
	                                       &p, NULL, &slow),
	                 code);
	assert_null(p);
	assert_string_equal(slow.path, err.path);
	assert_string_equal(slow.message, err.message);
	assert_int_equal(slow.line, err.line);
	assert_int_equal(slow.column, err.column);
}

/* Checks err's position against jansson's own for the whole text (jansson
 * says column 0 at the start of a line; certpin says column 1). */
static void expect_jansson_position(const char *json, const certpin_error *err)
{
	json_error_t je;
	json_t *j = json_loadb(json, strlen(json), JSON_REJECT_DUPLICATES, &je);
	assert_null(j);
	assert_int_equal(err->line, je.line);
	assert_int_equal(err->column, je.column != 0 ? je.column : 1);
}

static certpin_policy *load_ok(const char *json, certpin_warnings **w)
{
	certpin_policy *p = NULL;
	certpin_error err;
	certpin_err rc = load(json, 0, &p, w, &err);
	if (rc != CERTPIN_OK)
		fail_msg("load failed: %u:%u %s: %s", err.line, err.column, err.path, err.message);
	assert_non_null(p);
	return p;
}

/* ---- the example and every key --------------------------------------------- */

static const char example[] =
    "{\n"
    "  \"certpin\": 1,\n"
    "  \"unlisted_hosts\": \"allow\",\n"
    "  \"domains\": [\n"
    "    {\n"
    "      \"host\": \"api.example.com\",\n"
    "      \"include_subdomains\": false,\n"
    "      \"pins\": [\"sha256/7HIpactkIAq2Y49orFOOQKurWxmmSFZhBCoQYcRhJ3Y=\",\n"
    "               \"sha256/fwza0LRMXouZHRC8Ei+4PyuldPRcf3UKgO/04cDM1oE=\"],\n"
    "      \"expires\": \"2027-06-01\",\n"
    "      \"on_expiry\": \"unpinned\",\n"
    "      \"mode\": \"enforce\",\n"
    "      \"report_uris\": [\"https://reports.example.com/pins\"]\n"
    "    }\n"
    "  ]\n"
    "}\n";

static void architecture_example_loads_with_its_values(void **state)
{
	(void)state;
	certpin_warnings *w = NULL;
	certpin_policy *p = load_ok(example, &w);
	assert_int_equal(certpin_warnings_count(w), 0);
	assert_int_equal(certpin_policy_unlisted(p), CERTPIN_UNLISTED_ALLOW);
	assert_int_equal(certpin_policy_rule_count(p), 1);
	const certpin_rule *r = certpin_policy_rule(p, 0);
	assert_non_null(r);
	assert_null(certpin_policy_rule(p, 1));
	assert_string_equal(certpin_rule_host(r), "api.example.com");
	assert_false(certpin_rule_is_exclude(r));
	assert_int_equal(certpin_rule_mode(r), CERTPIN_MODE_ENFORCE);
	assert_int_equal(certpin_rule_on_expiry(r), CERTPIN_ON_EXPIRY_UNPINNED);
	assert_int_equal(certpin_rule_trust_anchors(r), CERTPIN_ANCHORS_SYSTEM);
	assert_int_equal(certpin_rule_validation(r), CERTPIN_VALIDATION_WEBPKI);
	assert_int_equal(certpin_rule_pin_count(r, CERTPIN_SCOPE_ANY), 2);
	assert_int_equal(certpin_rule_pin_count(r, CERTPIN_SCOPE_LEAF), 0);
	assert_int_equal(certpin_rule_pin_count(r, CERTPIN_SCOPE_CA), 0);
	assert_string_equal(pin_text(certpin_rule_pin(r, CERTPIN_SCOPE_ANY, 0)), P1);
	assert_string_equal(pin_text(certpin_rule_pin(r, CERTPIN_SCOPE_ANY, 1)), P2);
	assert_null(certpin_rule_pin(r, CERTPIN_SCOPE_ANY, 2));
	/* A date means the end of that day: expired from 2027-06-02T00:00:00Z. */
	int64_t t = 0, want = 0;
	assert_true(certpin_rule_expires(r, &t));
	assert_int_equal(certpin_time_parse("2027-06-02T00:00:00Z", 0, &want, NULL), CERTPIN_OK);
	assert_int_equal(t, want);
	assert_int_equal(certpin_rule_report_uri_count(r), 1);
	assert_string_equal(certpin_rule_report_uri(r, 0), "https://reports.example.com/pins");
	assert_null(certpin_rule_report_uri(r, 1));
	assert_int_equal(certpin_rule_anchor_count(r), 0);

	assert_ptr_equal(certpin_policy_lookup(p, "api.example.com"), r);
	assert_ptr_equal(certpin_policy_lookup(p, "API.Example.COM."), r);
	assert_null(certpin_policy_lookup(p, "x.api.example.com"));
	assert_null(certpin_policy_lookup(p, "example.com"));
	assert_null(certpin_policy_lookup(p, "api..example.com"));
	certpin_warnings_free(w);
	certpin_policy_free(p);
}

static void every_domain_key_is_read(void **state)
{
	(void)state;
	const char *json =
	    "{\"certpin\": 1, \"unlisted_hosts\": \"deny\", \"validation\": \"openssl\",\n"
	    " \"domains\": [\n"
	    "  {\"host\": \"example.com\", \"include_subdomains\": true,\n"
	    "   \"pins\": [\"" P1 "\"],\n"
	    "   \"leaf_pins\": [\"" P2 "\"],\n"
	    "   \"ca_pins\": [\"cert-sha256/7HIpactkIAq2Y49orFOOQKurWxmmSFZhBCoQYcRhJ3Y=\"],\n"
	    "   \"expires\": \"2030-01-01T12:00:00Z\", \"on_expiry\": \"block\",\n"
	    "   \"mode\": \"report\", \"trust_anchors\": \"system\", \"validation\": \"webpki\",\n"
	    "   \"report_uris\": [\"https://a.example/r\", \"https://b.example/r\"]},\n"
	    "  {\"host\": \"*.cdn.example.com\", " TWO_PINS ", " EXP "},\n"
	    "  {\"host\": \"public.example.com\", \"exclude\": true},\n"
	    "  {\"host\": \"192.0.2.1\", " TWO_PINS ", " EXP "}\n"
	    " ]}";
	certpin_policy *p = load_ok(json, NULL);
	assert_int_equal(certpin_policy_unlisted(p), CERTPIN_UNLISTED_DENY);
	assert_int_equal(certpin_policy_rule_count(p), 4);

	const certpin_rule *r = certpin_policy_rule(p, 0);
	assert_string_equal(certpin_rule_host(r), "**.example.com");
	assert_int_equal(certpin_rule_pin_count(r, CERTPIN_SCOPE_ANY), 1);
	assert_int_equal(certpin_rule_pin_count(r, CERTPIN_SCOPE_LEAF), 1);
	assert_int_equal(certpin_rule_pin_count(r, CERTPIN_SCOPE_CA), 1);
	assert_string_equal(pin_text(certpin_rule_pin(r, CERTPIN_SCOPE_LEAF, 0)), P2);
	assert_string_equal(pin_text(certpin_rule_pin(r, CERTPIN_SCOPE_CA, 0)),
	                    "cert-sha256/7HIpactkIAq2Y49orFOOQKurWxmmSFZhBCoQYcRhJ3Y=");
	assert_true(((const struct certpin_rule *)r)->has_cert_pins);
	assert_int_equal(certpin_rule_on_expiry(r), CERTPIN_ON_EXPIRY_BLOCK);
	assert_int_equal(certpin_rule_mode(r), CERTPIN_MODE_REPORT);
	assert_int_equal(certpin_rule_validation(r), CERTPIN_VALIDATION_WEBPKI);
	int64_t t = 0, want = 0;
	assert_true(certpin_rule_expires(r, &t));
	assert_int_equal(certpin_time_parse("2030-01-01T12:00:00Z", 0, &want, NULL), CERTPIN_OK);
	assert_int_equal(t, want);
	assert_int_equal(certpin_rule_report_uri_count(r), 2);
	assert_string_equal(certpin_rule_report_uri(r, 1), "https://b.example/r");

	const certpin_rule *cdn = certpin_policy_rule(p, 1);
	assert_string_equal(certpin_rule_host(cdn), "*.cdn.example.com");
	/* The top-level validation is the default of rules that set none. */
	assert_int_equal(certpin_rule_validation(cdn), CERTPIN_VALIDATION_OPENSSL);
	assert_false(((const struct certpin_rule *)cdn)->has_cert_pins);
	const certpin_rule *ex = certpin_policy_rule(p, 2);
	assert_true(certpin_rule_is_exclude(ex));
	assert_int_equal(certpin_rule_pin_count(ex, CERTPIN_SCOPE_ANY), 0);
	assert_false(certpin_rule_expires(ex, &t));

	assert_ptr_equal(certpin_policy_lookup(p, "a.b.example.com"), r);
	assert_ptr_equal(certpin_policy_lookup(p, "example.com"), r);
	assert_ptr_equal(certpin_policy_lookup(p, "x.cdn.example.com"), cdn);
	assert_ptr_equal(certpin_policy_lookup(p, "public.example.com"), ex);
	assert_ptr_equal(certpin_policy_lookup(p, "192.0.2.1"), certpin_policy_rule(p, 3));
	assert_null(certpin_policy_lookup(p, "example.org"));
	certpin_policy_free(p);
}

static void empty_domains_array_loads_an_empty_policy(void **state)
{
	(void)state;
	certpin_warnings *w = NULL;
	certpin_policy *p = load_ok("{\"certpin\": 1, \"domains\": []}", &w);
	assert_int_equal(certpin_policy_rule_count(p), 0);
	assert_int_equal(certpin_warnings_count(w), 0);
	assert_null(certpin_policy_lookup(p, "example.com"));
	certpin_warnings_free(w);
	certpin_policy_free(p);
}

static void escaped_keys_are_read_and_located(void **state)
{
	(void)state;
	/* "p\u0069ns" is "pins": the locator decodes keys as jansson does. */
	const char *ok = "{\"certpin\": 1, \"domains\": [{\"host\": \"a.example.com\", "
	                 "\"p\\u0069ns\": [\"" P1 "\", \"" P2 "\"], " EXP "}]}";
	certpin_policy *p = load_ok(ok, NULL);
	assert_int_equal(certpin_rule_pin_count(certpin_policy_rule(p, 0), CERTPIN_SCOPE_ANY), 2);
	certpin_policy_free(p);
	const char *bad = "{\"certpin\": 1, \"domains\": [{\"host\": \"a.example.com\", "
	                  "\"p\\u0069ns\": [\"" P1 "\", \"sha1/AAAA\"], " EXP "}]}";
	expect_error_at(bad, CERTPIN_E_PIN_ALGORITHM, "$.domains[0].pins[1]", "\"sha1/", NULL);
}

/* ---- schema errors ----------------------------------------------------------- */

static void unknown_top_level_key_is_refused_at_the_key(void **state)
{
	(void)state;
	const char *json = "{\"certpin\": 1,\n \"domains\": [],\n  \"comment\": \"x\"}";
	expect_error_at(json, CERTPIN_E_SCHEMA, "$.comment", "\"comment\"",
	                "unknown key 'comment' (allowed: certpin, unlisted_hosts");
	const char *near = "{\"certpin\": 1, \"domain\": []}";
	expect_error_at(near, CERTPIN_E_SCHEMA, "$.domain", "\"domain\"",
	                "did you mean 'domains'?");
}

static void unknown_domain_key_suggests_the_near_one(void **state)
{
	(void)state;
	const char *json = "{\"certpin\": 1, \"domains\": [\n"
	                   "  {\"host\": \"a.example.com\", " EXP ",\n"
	                   "   \"pin\": [\"" P1 "\"]}]}";
	expect_error_at(json, CERTPIN_E_SCHEMA, "$.domains[0].pin", "\"pin\"",
	                "unknown key 'pin' (did you mean 'pins'?)");
	const char *far = "{\"certpin\": 1, \"domains\": [{\"host\": \"a.example.com\", "
	                  "\"colour\": \"red\"}]}";
	expect_error_at(far, CERTPIN_E_SCHEMA, "$.domains[0].colour", "\"colour\"",
	                "(allowed: host, include_subdomains");
	const char *odd = "{\"certpin\": 1, \"domains\": [{\"host\": \"a.example.com\", "
	                  "\"a b\": 1}]}";
	expect_error_at(odd, CERTPIN_E_SCHEMA, "$.domains[0][\"a b\"]", "\"a b\"", NULL);
}

struct type_case {
	const char *member; /* "key": value as it appears in the JSON */
	const char *path;
	const char *needle; /* where the error points */
};

static void wrong_type_of_every_domain_key_is_refused_at_the_value(void **state)
{
	(void)state;
	static const struct type_case cases[] = {
	    {"\"host\": 5", "$.domains[0].host", "5}"},
	    {"\"include_subdomains\": \"yes\"", "$.domains[0].include_subdomains", "\"yes\""},
	    {"\"exclude\": 1", "$.domains[0].exclude", "1}"},
	    {"\"pins\": \"" P1 "\"", "$.domains[0].pins", "\"sha256/7HI"},
	    {"\"pins\": [\"" P1 "\", 7]", "$.domains[0].pins[1]", "7]"},
	    {"\"leaf_pins\": {}", "$.domains[0].leaf_pins", "{}"},
	    {"\"ca_pins\": [true]", "$.domains[0].ca_pins[0]", "true"},
	    {"\"pin_files\": \"a.pem\"", "$.domains[0].pin_files", "\"a.pem\""},
	    {"\"report_uris\": \"https://r.example/\"", "$.domains[0].report_uris", "\"https://r"},
	    {"\"expires\": 20270601", "$.domains[0].expires", "20270601"},
	    {"\"on_expiry\": false", "$.domains[0].on_expiry", "false"},
	    {"\"mode\": null", "$.domains[0].mode", "null"},
	    {"\"trust_anchors\": []", "$.domains[0].trust_anchors", "[]"},
	    {"\"validation\": 1", "$.domains[0].validation", "1}"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char json[1024];
		snprintf(json, sizeof json,
		         "{\"certpin\": 1, \"domains\": [{\"host\": \"a.example.com\", %s}]}",
		         cases[i].member);
		/* host twice would be a duplicate key: replace it instead. */
		if (strncmp(cases[i].member, "\"host\"", 6) == 0)
			snprintf(json, sizeof json, "{\"certpin\": 1, \"domains\": [{%s}]}",
			         cases[i].member);
		expect_error_at(json, CERTPIN_E_SCHEMA, cases[i].path, cases[i].needle, NULL);
	}
}

static void wrong_type_of_every_top_level_key_is_refused_at_the_value(void **state)
{
	(void)state;
	expect_error_at("{\"certpin\": \"1\", \"domains\": []}", CERTPIN_E_SCHEMA, "$.certpin",
	                "\"1\"", "must be the integer 1");
	expect_error_at("{\"certpin\": 1.0, \"domains\": []}", CERTPIN_E_SCHEMA, "$.certpin", "1.0",
	                "must be the integer 1");
	expect_error_at("{\"certpin\": 1, \"unlisted_hosts\": true, \"domains\": []}",
	                CERTPIN_E_SCHEMA, "$.unlisted_hosts", "true", "must be a string");
	expect_error_at("{\"certpin\": 1, \"validation\": 5, \"domains\": []}", CERTPIN_E_SCHEMA,
	                "$.validation", "5,", NULL);
	expect_error_at("{\"certpin\": 1, \"domains\": {}}", CERTPIN_E_SCHEMA, "$.domains", "{}",
	                "must be an array");
	expect_error_at("{\"certpin\": 1, \"domains\": [5]}", CERTPIN_E_SCHEMA, "$.domains[0]",
	                "5]", "must be a JSON object");
	expect_error_at("  [1, 2]", CERTPIN_E_SCHEMA, "$", "[", "JSON object");
}

static void bad_enum_values_are_refused_with_the_allowed_ones(void **state)
{
	(void)state;
	expect_error_at("{\"certpin\": 1, \"unlisted_hosts\": \"block\", \"domains\": []}",
	                CERTPIN_E_SCHEMA, "$.unlisted_hosts", "\"block\"",
	                "must be \"allow\" or \"deny\", not \"block\"");
	expect_error_at("{\"certpin\": 1, \"validation\": \"strict\", \"domains\": []}",
	                CERTPIN_E_SCHEMA, "$.validation", "\"strict\"",
	                "\"webpki\" or \"openssl\"");
	static const struct type_case cases[] = {
	    {"\"on_expiry\": \"allow\"", "$.domains[0].on_expiry", "\"allow\""},
	    {"\"mode\": \"monitor\"", "$.domains[0].mode", "\"monitor\""},
	    {"\"trust_anchors\": \"custom\"", "$.domains[0].trust_anchors", "\"custom\""},
	    {"\"validation\": \"none\"", "$.domains[0].validation", "\"none\""},
	    {"\"mode\": \"Enforce\"", "$.domains[0].mode", "\"Enforce\""},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char json[512];
		snprintf(json, sizeof json,
		         "{\"certpin\": 1, \"domains\": [{\"host\": \"a.example.com\", " TWO_PINS
		         ", %s}]}",
		         cases[i].member);
		expect_error_at(json, CERTPIN_E_SCHEMA, cases[i].path, cases[i].needle, "must be");
	}
}

static void format_version_2_is_refused(void **state)
{
	(void)state;
	expect_error_at("{\n  \"certpin\": 2,\n  \"domains\": []\n}", CERTPIN_E_SCHEMA, "$.certpin",
	                "2,", "unsupported format version 2, this certpin reads 1");
	/* The version is checked first: a newer file may have new keys. */
	expect_error_at("{\"future\": 1, \"certpin\": 2, \"domains\": []}", CERTPIN_E_SCHEMA,
	                "$.certpin", "2,", "unsupported format version 2");
}

static void missing_certpin_domains_and_host_are_refused(void **state)
{
	(void)state;
	expect_error_at("{\"domains\": []}", CERTPIN_E_SCHEMA, "$", "{", "missing key 'certpin'");
	expect_error_at("\n {\"certpin\": 1}", CERTPIN_E_SCHEMA, "$", "{", "missing key 'domains'");
	expect_error_at("{\"certpin\": 1, \"domains\": [\n  {" TWO_PINS "}]}", CERTPIN_E_SCHEMA,
	                "$.domains[0]", "{\"pins", "missing key 'host'");
}

static void empty_pin_list_is_refused(void **state)
{
	(void)state;
	/* No pins key at all: the error points at the domain. */
	expect_error_at("{\"certpin\": 1, \"domains\": [{\"host\": \"a.example.com\"}]}",
	                CERTPIN_E_SCHEMA, "$.domains[0].pins", "{\"host", "empty pin list");
	expect_error_at("{\"certpin\": 1, \"domains\": [{\"host\": \"a.example.com\", "
	                "\"pins\": [], \"leaf_pins\": []}]}",
	                CERTPIN_E_SCHEMA, "$.domains[0].pins", "[]", "empty pin list");
}

static void exclude_rule_with_pins_is_refused(void **state)
{
	(void)state;
	expect_error_at("{\"certpin\": 1, \"domains\": [{\"host\": \"a.example.com\", "
	                "\"exclude\": true, \"ca_pins\": [\"" P1 "\"]}]}",
	                CERTPIN_E_SCHEMA, "$.domains[0].ca_pins", "[\"sha256",
	                "an exclude rule carries no pins");
	expect_error_at("{\"certpin\": 1, \"domains\": [{\"host\": \"a.example.com\", "
	                "\"exclude\": true, \"pin_files\": [\"x.pem\"]}]}",
	                CERTPIN_E_SCHEMA, "$.domains[0].pin_files", "[\"x.pem",
	                "an exclude rule carries no pins");
	/* exclude: false with pins is an ordinary rule. */
	certpin_policy *p = load_ok("{\"certpin\": 1, \"domains\": [{\"host\": \"a.example.com\", "
	                            "\"exclude\": false, " TWO_PINS "}]}",
	                            NULL);
	certpin_policy_free(p);
}

static void duplicate_host_is_refused_at_the_later_rule(void **state)
{
	(void)state;
	const char *json = "{\"certpin\": 1, \"domains\": [\n"
	                   "  {\"host\": \"a.example.com\", " TWO_PINS "},\n"
	                   "  {\"host\": \"b.example.com\", " TWO_PINS "},\n"
	                   "  {\"host\": \"A.Example.com.\", " TWO_PINS "}]}";
	expect_error_at(json, CERTPIN_E_DUPLICATE, "$.domains[2].host", "\"A.Example",
	                "duplicate rule for 'a.example.com' (also domains[0])");
	const char *sub = "{\"certpin\": 1, \"domains\": [\n"
	                  "  {\"host\": \"a.com\", \"include_subdomains\": true, " TWO_PINS "},\n"
	                  "  {\"host\": \"**.a.com\", " TWO_PINS "}]}";
	expect_error_at(sub, CERTPIN_E_DUPLICATE, "$.domains[1].host", "\"**.a.com",
	                "duplicate rule for '**.a.com' (also domains[0])");
	/* The same name as exact, "*." and "**." are three different rules. */
	certpin_policy *p = load_ok("{\"certpin\": 1, \"domains\": [\n"
	                            "  {\"host\": \"a.com\", " TWO_PINS "},\n"
	                            "  {\"host\": \"*.a.com\", " TWO_PINS "},\n"
	                            "  {\"host\": \"**.a.com\", " TWO_PINS "}]}",
	                            NULL);
	assert_int_equal(certpin_policy_rule_count(p), 3);
	certpin_policy_free(p);
}

static void duplicate_json_key_is_a_json_error_with_jansson_position(void **state)
{
	(void)state;
	const char *top = "{\"certpin\": 1,\n \"certpin\": 1, \"domains\": []}";
	certpin_policy *p = NULL;
	certpin_error err;
	assert_int_equal(load(top, 0, &p, NULL, &err), CERTPIN_E_JSON);
	assert_null(p);
	assert_non_null(strstr(err.message, "duplicate object key"));
	assert_string_equal(err.path, "");
	assert_int_equal(err.line, 2);
	expect_jansson_position(top, &err);

	const char *dom = "{\"certpin\": 1, \"domains\": [\n"
	                  "  {\"host\": \"a.example.com\", " TWO_PINS "},\n"
	                  "  {\"host\": \"b.example.com\",\n"
	                  "   " TWO_PINS ", \"host\": \"c.example.com\"}]}";
	assert_int_equal(load(dom, 0, &p, NULL, &err), CERTPIN_E_JSON);
	assert_null(p);
	assert_non_null(strstr(err.message, "duplicate object key"));
	assert_string_equal(err.path, "$.domains[1]");
	assert_int_equal(err.line, 4);
	expect_jansson_position(dom, &err);
}

static void bad_pin_is_refused_with_its_path_and_position(void **state)
{
	(void)state;
	const char *json = "{\n"
	                   "  \"certpin\": 1,\n"
	                   "  \"domains\": [\n"
	                   "    {\"host\": \"a.example.com\", " TWO_PINS "},\n"
	                   "    {\"host\": \"b.example.com\",\n"
	                   "     \"pins\": [\"" P1 "\",\n"
	                   "              \"sha1/AAAAAAAAAAAAAAAAAAAAAAAAAAA=\"]}\n"
	                   "  ]\n"
	                   "}\n";
	expect_error_at(json, CERTPIN_E_PIN_ALGORITHM, "$.domains[1].pins[1]", "\"sha1/", NULL);
	certpin_policy *p = NULL;
	certpin_error err;
	assert_int_equal(load(json, 0, &p, NULL, &err), CERTPIN_E_PIN_ALGORITHM);
	assert_int_equal(err.line, 7);
	assert_int_equal(err.column, 15);
	char line[512];
	certpin_error_format(&err, line, sizeof line);
	assert_true(strncmp(line, "test.json:7:15: $.domains[1].pins[1]: ", 38) == 0);

	expect_error_at("{\"certpin\": 1, \"domains\": [{\"host\": \"a.example.com\", "
	                "\"leaf_pins\": [\"sha256/short\"]}]}",
	                CERTPIN_E_PIN_SYNTAX, "$.domains[0].leaf_pins[0]", "\"sha256/short", NULL);
	expect_error_at("{\"certpin\": 1, \"domains\": [{\"host\": \"a.example.com\", "
	                "\"pins\": [\"" P1 "\", \"" P2 "\", \"" P1 "\"]}]}",
	                CERTPIN_E_SCHEMA, "$.domains[0].pins[2]", "\"" P1 "\"]",
	                "duplicate pin (also pins[0])");
}

static void bad_host_is_refused_at_the_host(void **state)
{
	(void)state;
	expect_error_at("{\"certpin\": 1, \"domains\": [{\"host\": \"a..example.com\", " TWO_PINS
	                "}]}",
	                CERTPIN_E_HOST, "$.domains[0].host", "\"a..", NULL);
	expect_error_at("{\"certpin\": 1, \"domains\": [{" TWO_PINS ", \"host\": \"a*.example.com\""
	                "}]}",
	                CERTPIN_E_HOST, "$.domains[0].host", "\"a*", NULL);
	expect_error_at("{\"certpin\": 1, \"domains\": [{\"host\": \"*.example.com\", "
	                "\"include_subdomains\": true, " TWO_PINS "}]}",
	                CERTPIN_E_HOST, "$.domains[0].host", "\"*.", NULL);
}

static void bad_expires_is_refused_at_the_value(void **state)
{
	(void)state;
	expect_error_at("{\"certpin\": 1, \"domains\": [{\"host\": \"a.example.com\", " TWO_PINS
	                ",\n \"expires\": \"2027-13-01\"}]}",
	                CERTPIN_E_TIME, "$.domains[0].expires", "\"2027-13", NULL);
	expect_error_at("{\"certpin\": 1, \"domains\": [{\"host\": \"a.example.com\", " TWO_PINS
	                ", \"expires\": \"next year\"}]}",
	                CERTPIN_E_TIME, "$.domains[0].expires", "\"next", NULL);
}

static void nul_in_a_string_is_a_json_error(void **state)
{
	(void)state;
	const char *json = "{\"certpin\": 1, \"domains\": [\n"
	                   "  {\"host\": \"a.example.com\\u0000.evil.com\", " TWO_PINS "}]}";
	certpin_policy *p = NULL;
	certpin_error err;
	assert_int_equal(load(json, 0, &p, NULL, &err), CERTPIN_E_JSON);
	assert_null(p);
	assert_string_equal(err.path, "$.domains[0]");
	assert_int_equal(err.line, 2);
	assert_true(err.column > 0);
	expect_jansson_position(json, &err);
}

static void syntax_error_reports_jansson_line_and_column(void **state)
{
	(void)state;
	static const char *const cases[] = {
	    /* in a domain */
	    "{\"certpin\": 1, \"domains\": [\n"
	    "  {\"host\": \"a.example.com\", " TWO_PINS "},\n"
	    "  {\"host\": \"b.example.com\" " TWO_PINS "}\n"
	    "]}",
	    /* after the domains array: the position is mapped back over it */
	    "{\"certpin\": 1, \"domains\": [\n"
	    "  {\"host\": \"a.example.com\", " TWO_PINS "}\n"
	    "],\n"
	    "  \"unlisted_hosts\" \"deny\"}",
	    /* before it */
	    "{\"certpin\": 1,, \"domains\": []}",
	    /* unterminated */
	    "{\"certpin\": 1, \"domains\": [\n  {\"host\": \"a.exa",
	    /* a trailing comma in the array */
	    "{\"certpin\": 1, \"domains\": [{\"host\": \"a.example.com\", " TWO_PINS "},]}",
	    /* bad UTF-8 in a string */
	    "{\"certpin\": 1, \"domains\": [{\"host\": \"\xc3\x28\"}]}",
	    "",
	    "\n\n",
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		certpin_policy *p = NULL;
		certpin_error err;
		assert_int_equal(load(cases[i], 0, &p, NULL, &err), CERTPIN_E_JSON);
		assert_null(p);
		assert_string_equal(err.file, "test.json");
		assert_true(err.message[0] != '\0');
		expect_jansson_position(cases[i], &err);
	}
	certpin_policy *p = NULL;
	certpin_error err;
	assert_int_equal(load(cases[0], 0, &p, NULL, &err), CERTPIN_E_JSON);
	assert_string_equal(err.path, "$.domains[1]");
	assert_int_equal(err.line, 3);
	assert_int_equal(load(cases[1], 0, &p, NULL, &err), CERTPIN_E_JSON);
	assert_string_equal(err.path, "");
	assert_int_equal(err.line, 4);
	assert_int_equal(err.column, 25);
}

static void trailing_garbage_is_a_json_error(void **state)
{
	(void)state;
	const char *json = "{\"certpin\": 1, \"domains\": []}\n  x";
	certpin_policy *p = NULL;
	certpin_error err;
	assert_int_equal(load(json, 0, &p, NULL, &err), CERTPIN_E_JSON);
	assert_null(p);
	assert_int_equal(err.line, 2);
	assert_int_equal(err.column, 3);
	expect_jansson_position(json, &err);
	assert_int_equal(load("{\"certpin\": 1, \"domains\": []} {}", 0, &p, NULL, &err),
	                 CERTPIN_E_JSON);
	assert_null(p);
}

static char *pins_json(size_t n_pins, const char *list)
{
	size_t cap = 128 + n_pins * 64;
	char *json = malloc(cap);
	assert_non_null(json);
	size_t at = (size_t)snprintf(json, cap,
	                             "{\"certpin\": 1, \"domains\": [{\"host\": \"a.example.com\", "
	                             "\"%s\": [",
	                             list);
	for (unsigned i = 0; i < n_pins; i++) {
		char pin[64];
		at += (size_t)snprintf(json + at, cap - at, "%s\"%s\"", i ? ", " : "",
		                       fake_pin(i, pin));
	}
	snprintf(json + at, cap - at, "]}]}");
	return json;
}

static void sixty_five_pins_are_too_many(void **state)
{
	(void)state;
	char *json = pins_json(64, "pins");
	certpin_policy *p = load_ok(json, NULL);
	assert_int_equal(certpin_rule_pin_count(certpin_policy_rule(p, 0), CERTPIN_SCOPE_ANY), 64);
	certpin_policy_free(p);
	free(json);

	json = pins_json(65, "pins");
	char pin[64], needle[80];
	snprintf(needle, sizeof needle, "\"%s\"]", fake_pin(64, pin));
	expect_error_at(json, CERTPIN_E_TOO_LARGE, "$.domains[0].pins[64]", needle,
	                "more than 64 pins");
	free(json);

	json = pins_json(65, "ca_pins");
	expect_error_at(json, CERTPIN_E_TOO_LARGE, "$.domains[0].ca_pins[64]", needle, NULL);
	free(json);
}

static void report_uri_must_be_https(void **state)
{
	(void)state;
	expect_error_at("{\"certpin\": 1, \"domains\": [{\"host\": \"a.example.com\", " TWO_PINS
	                ", \"report_uris\": [\"https://ok.example/\", \"http://r.example/\"]}]}",
	                CERTPIN_E_SCHEMA, "$.domains[0].report_uris[1]", "\"http://",
	                "must start with \"https://\"");
	expect_error_at("{\"certpin\": 1, \"domains\": [{\"host\": \"a.example.com\", " TWO_PINS
	                ", \"report_uris\": [\"https://\"]}]}",
	                CERTPIN_E_SCHEMA, "$.domains[0].report_uris[0]", "\"https://\"", NULL);
	expect_error_at("{\"certpin\": 1, \"domains\": [{\"host\": \"a.example.com\", " TWO_PINS
	                ", \"report_uris\": [\"https://a b/\"]}]}",
	                CERTPIN_E_SCHEMA, "$.domains[0].report_uris[0]", "\"https://a", NULL);
}

/* ---- warnings and strict loading ------------------------------------------ */

static void expect_warning(const certpin_warnings *w, size_t i, certpin_warning_kind kind,
                           const char *path, const char *json, const char *needle)
{
	certpin_warning_kind k = 0;
	const certpin_error *e = certpin_warnings_get(w, i, &k);
	assert_non_null(e);
	assert_int_equal(k, kind);
	assert_int_equal(e->code, CERTPIN_OK);
	assert_string_equal(e->file, "test.json");
	assert_string_equal(e->path, path);
	unsigned line, col;
	pos_of(json, needle, &line, &col);
	assert_int_equal(e->line, line);
	assert_int_equal(e->column, col);
	assert_true(e->message[0] != '\0');
}

static void one_pin_warns_few_pins_at_the_pins(void **state)
{
	(void)state;
	const char *json = "{\"certpin\": 1, \"domains\": [\n"
	                   "  {\"host\": \"a.example.com\", " TWO_PINS ", " EXP "},\n"
	                   "  {\"host\": \"b.example.com\", " EXP ",\n"
	                   "   \"pins\": [\"" P1 "\"]}]}";
	certpin_warnings *w = NULL;
	certpin_policy *p = load_ok(json, &w);
	assert_int_equal(certpin_warnings_count(w), 1);
	expect_warning(w, 0, CERTPIN_W_FEW_PINS, "$.domains[1].pins", json, "[\"" P1 "\"]}");
	assert_string_equal(certpin_warnings_get(w, 0, NULL)->message,
	                    "1 pin and no backup pin: a key rotation will block clients");
	assert_null(certpin_warnings_get(w, 1, NULL));
	assert_string_equal(certpin_warning_name(CERTPIN_W_FEW_PINS), "few-pins");
	certpin_warnings_free(w);
	certpin_policy_free(p);

	/* The one pin came from a pin file: the warning points there. */
	X509 *one[] = {leaf, NULL};
	write_pem_certs("one-leaf.pem", one);
	const char *from_file = "{\"certpin\": 1, \"domains\": [\n"
	                        "  {\"host\": \"b.example.com\", " EXP ",\n"
	                        "   \"pin_files\": [\"one-leaf.pem\"]}]}";
	p = load_ok(from_file, &w);
	assert_int_equal(certpin_warnings_count(w), 1);
	expect_warning(w, 0, CERTPIN_W_FEW_PINS, "$.domains[0].pin_files", from_file,
	               "[\"one-leaf");
	certpin_warnings_free(w);
	certpin_policy_free(p);
}

static void missing_expiry_warns_no_expiry_at_the_domain(void **state)
{
	(void)state;
	const char *json =
	    "{\"certpin\": 1, \"domains\": [\n"
	    "  {\"host\": \"a.example.com\", " TWO_PINS ", " EXP "},\n"
	    "  {\"host\": \"b.example.com\", " TWO_PINS "},\n"
	    "  {\"host\": \"c.example.com\", \"exclude\": true},\n"
	    "  {\"host\": \"d.example.com\", \"mode\": \"report\", \"pins\": [\"" P1 "\"]}]}";
	certpin_warnings *w = NULL;
	certpin_policy *p = load_ok(json, &w);
	/* Exclude and report-mode rules get neither few-pins nor no-expiry. */
	assert_int_equal(certpin_warnings_count(w), 1);
	expect_warning(w, 0, CERTPIN_W_NO_EXPIRY, "$.domains[1]", json, "{\"host\": \"b.");
	assert_string_equal(certpin_warning_name(CERTPIN_W_NO_EXPIRY), "no-expiry");
	certpin_warnings_free(w);
	certpin_policy_free(p);
}

static void root_only_pin_file_warns_root_only(void **state)
{
	(void)state;
	X509 *roots[] = {root, root2, NULL};
	write_pem_certs("roots.pem", roots);
	X509 *chain[] = {leaf, inter, root, NULL};
	write_pem_certs("chain.pem", chain);
	char buf[2048];
	snprintf(buf, sizeof buf,
	         "{\"certpin\": 1, \"domains\": [\n"
	         "  {\"host\": \"a.example.com\", " EXP ",\n"
	         "   \"pin_files\": [\"roots.pem\"]},\n"
	         "  {\"host\": \"b.example.com\", " EXP ", \"mode\": \"report\",\n"
	         "   \"pin_files\": [\"roots.pem\"]},\n"
	         "  {\"host\": \"c.example.com\", " EXP ", \"pin_files\": [\"chain.pem\"]},\n"
	         "  {\"host\": \"d.example.com\", " EXP ", \"pins\": [\"%s\"],\n"
	         "   \"pin_files\": [\"roots.pem\"]}]}",
	         tu_spki_pin_text(leaf_key));
	certpin_warnings *w = NULL;
	certpin_policy *p = load_ok(buf, &w);
	/* Report-mode rules still get root-only; a leaf pin beside roots does not. */
	assert_int_equal(certpin_warnings_count(w), 2);
	expect_warning(w, 0, CERTPIN_W_ROOT_ONLY, "$.domains[0].pin_files", buf, "[\"roots.pem");
	const char *second = strstr(buf, "\"b.example.com");
	expect_warning(w, 1, CERTPIN_W_ROOT_ONLY, "$.domains[1].pin_files", buf,
	               strstr(second, "[\"roots.pem"));
	assert_string_equal(
	    certpin_warnings_get(w, 0, NULL)->message,
	    "pins only root CA certificates: any certificate that CA issues will pass");
	assert_string_equal(certpin_warning_name(CERTPIN_W_ROOT_ONLY), "root-only");
	assert_string_equal(certpin_warning_name((certpin_warning_kind)99), "unknown");
	const struct certpin_rule *r = (const struct certpin_rule *)certpin_policy_rule(p, 0);
	assert_int_equal(r->pins.n, 2);
	assert_int_equal(r->n_root_pins, 2);
	r = (const struct certpin_rule *)certpin_policy_rule(p, 2);
	assert_int_equal(r->pins.n, 3);
	assert_int_equal(r->n_root_pins, 1);
	certpin_warnings_free(w);
	certpin_policy_free(p);
}

static void strict_flag_turns_a_warning_into_an_error(void **state)
{
	(void)state;
	const char *json = "{\"certpin\": 1, \"domains\": [\n"
	                   "  {\"host\": \"a.example.com\", " EXP ", \"pins\": [\"" P1 "\"]}]}";
	certpin_policy *p = (certpin_policy *)(uintptr_t)1;
	certpin_warnings *w = (certpin_warnings *)(uintptr_t)1;
	certpin_error err;
	assert_int_equal(load(json, CERTPIN_LOAD_STRICT, &p, &w, &err), CERTPIN_E_STRICT);
	assert_null(p);
	assert_null(w);
	assert_int_equal(err.code, CERTPIN_E_STRICT);
	assert_string_equal(err.path, "$.domains[0].pins");
	assert_string_equal(err.file, "test.json");
	unsigned line, col;
	pos_of(json, "[\"" P1, &line, &col);
	assert_int_equal(err.line, line);
	assert_int_equal(err.column, col);
	assert_non_null(strstr(err.message, "no backup pin"));
	/* Without a warnings list too. */
	assert_int_equal(load(json, CERTPIN_LOAD_STRICT, &p, NULL, &err), CERTPIN_E_STRICT);
	assert_null(p);
	/* A clean policy passes strict loading. */
	assert_int_equal(load(example, CERTPIN_LOAD_STRICT, &p, NULL, &err), CERTPIN_OK);
	assert_non_null(p);
	certpin_policy_free(p);
	/* Unknown flags are refused. */
	assert_int_equal(load(example, 0x80, &p, NULL, &err), CERTPIN_E_INVALID_ARG);
	assert_null(p);
}

/* ---- pin_files and trust anchors --------------------------------------------- */

static void relative_pin_file_is_resolved_against_the_policy_directory(void **state)
{
	(void)state;
	char dir[512], path[600];
	snprintf(dir, sizeof dir, "%s/rel", tu_tmpdir());
	mkdir(dir, 0700);
	snprintf(dir, sizeof dir, "%s/rel/certs", tu_tmpdir());
	mkdir(dir, 0700);
	X509 *chain[] = {leaf, inter, root, NULL};
	write_pem_certs("rel/certs/chain.pem", chain);
	const char *json = "{\"certpin\": 1, \"domains\": [{\"host\": \"api.test\", " EXP ",\n"
	                   "  \"pin_files\": [\"certs/chain.pem\"]}]}";
	snprintf(path, sizeof path, "%s/rel/policy.json", tu_tmpdir());
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	fputs(json, f);
	fclose(f);

	certpin_policy *p = NULL;
	certpin_warnings *w = NULL;
	certpin_error err;
	assert_int_equal(certpin_policy_load_file(path, 0, &p, &w, &err), CERTPIN_OK);
	const certpin_rule *r = certpin_policy_rule(p, 0);
	/* A PEM chain adds the pin of every certificate in it. */
	assert_int_equal(certpin_rule_pin_count(r, CERTPIN_SCOPE_ANY), 3);
	assert_string_equal(pin_text(certpin_rule_pin(r, CERTPIN_SCOPE_ANY, 0)),
	                    tu_spki_pin_text(leaf_key));
	assert_string_equal(pin_text(certpin_rule_pin(r, CERTPIN_SCOPE_ANY, 1)),
	                    tu_spki_pin_text(int_key));
	assert_string_equal(pin_text(certpin_rule_pin(r, CERTPIN_SCOPE_ANY, 2)),
	                    tu_spki_pin_text(root_key));
	assert_int_equal(certpin_warnings_count(w), 0);
	certpin_warnings_free(w);
	certpin_policy_free(p);

	/* load_mem resolves against base_dir; the cwd is not the policy's dir. */
	char base[600];
	snprintf(base, sizeof base, "%s/rel", tu_tmpdir());
	assert_int_equal(certpin_policy_load_mem(json, strlen(json), NULL, base, 0, &p, NULL, &err),
	                 CERTPIN_OK);
	certpin_policy_free(p);
	assert_int_equal(
	    certpin_policy_load_mem(json, strlen(json), NULL, "/nonexistent", 0, &p, NULL, &err),
	    CERTPIN_E_IO);
	assert_string_equal(err.file, "<memory>");
	assert_string_equal(err.path, "$.domains[0].pin_files[0]");
	assert_non_null(strstr(err.message, "/nonexistent/certs/chain.pem"));
}

static void key_file_adds_its_pin_and_duplicates_merge(void **state)
{
	(void)state;
	BIO *b = BIO_new(BIO_s_mem());
	assert_int_equal(PEM_write_bio_PrivateKey(b, leaf_key, NULL, NULL, 0, NULL, NULL), 1);
	char *data;
	long n = BIO_get_mem_data(b, &data);
	tu_write_tmp("leaf.key", data, (size_t)n);
	BIO_free(b);
	X509 *chain[] = {leaf, inter, NULL};
	write_pem_certs("leaf-inter.pem", chain);

	char json[1024];
	snprintf(json, sizeof json,
	         "{\"certpin\": 1, \"domains\": [{\"host\": \"a.example.com\", " EXP ",\n"
	         "  \"pins\": [\"%s\"], \"pin_files\": [\"leaf.key\", \"leaf-inter.pem\"]}]}",
	         tu_spki_pin_text(leaf_key));
	certpin_policy *p = load_ok(json, NULL);
	const certpin_rule *r = certpin_policy_rule(p, 0);
	/* The key's pin equals the explicit pin and the leaf's: one entry. */
	assert_int_equal(certpin_rule_pin_count(r, CERTPIN_SCOPE_ANY), 2);
	assert_string_equal(pin_text(certpin_rule_pin(r, CERTPIN_SCOPE_ANY, 0)),
	                    tu_spki_pin_text(leaf_key));
	assert_string_equal(pin_text(certpin_rule_pin(r, CERTPIN_SCOPE_ANY, 1)),
	                    tu_spki_pin_text(int_key));
	certpin_policy_free(p);
}

static void missing_pin_file_is_an_io_error_at_its_path(void **state)
{
	(void)state;
	const char *json = "{\"certpin\": 1, \"domains\": [{\"host\": \"a.example.com\",\n"
	                   "  \"pin_files\": [\"does-not-exist.pem\"]}]}";
	expect_error_at(json, CERTPIN_E_IO, "$.domains[0].pin_files[0]", "\"does-not",
	                "does-not-exist.pem");
	tu_write_tmp("garbage.pem", "hello\n", 6);
	const char *bad = "{\"certpin\": 1, \"domains\": [{\"host\": \"a.example.com\",\n"
	                  "  \"pin_files\": [\"garbage.pem\"]}]}";
	expect_error_at(bad, CERTPIN_E_KEY_FILE, "$.domains[0].pin_files[0]", "\"garbage",
	                "garbage.pem");
}

static void pinned_trust_anchors_collect_the_ca_certificates(void **state)
{
	(void)state;
	X509 *chain[] = {leaf, inter, root, NULL};
	write_pem_certs("anchors.pem", chain);
	const char *json =
	    "{\"certpin\": 1, \"domains\": [{\"host\": \"iot.example.com\", " EXP
	    ",\n  \"trust_anchors\": \"pinned\", \"pin_files\": [\"anchors.pem\"]}]}";
	certpin_policy *p = load_ok(json, NULL);
	const certpin_rule *r = certpin_policy_rule(p, 0);
	assert_int_equal(certpin_rule_trust_anchors(r), CERTPIN_ANCHORS_PINNED);
	assert_int_equal(certpin_rule_anchor_count(r), 2);
	size_t want_len, len = 0;
	uint8_t *want = tu_der(inter, &want_len);
	const uint8_t *der = certpin_rule_anchor(r, 0, &len);
	assert_int_equal(len, want_len);
	assert_memory_equal(der, want, len);
	free(want);
	want = tu_der(root, &want_len);
	der = certpin_rule_anchor(r, 1, &len);
	assert_int_equal(len, want_len);
	assert_memory_equal(der, want, len);
	free(want);
	assert_null(certpin_rule_anchor(r, 2, &len));
	assert_int_equal(len, 0);
	certpin_policy_free(p);

	X509 *only_leaf[] = {leaf, NULL};
	write_pem_certs("leaf-only.pem", only_leaf);
	const char *bad =
	    "{\"certpin\": 1, \"domains\": [{\"host\": \"iot.example.com\", " EXP
	    ",\n  \"trust_anchors\": \"pinned\", \"pin_files\": [\"leaf-only.pem\"]}]}";
	expect_error_at(bad, CERTPIN_E_SCHEMA, "$.domains[0].trust_anchors", "\"pinned\"",
	                "trust_anchors \"pinned\" needs CA certificates in pin_files");
	const char *no_files =
	    "{\"certpin\": 1, \"domains\": [{\"host\": \"iot.example.com\", " TWO_PINS
	    ", \"trust_anchors\": \"pinned\"}]}";
	expect_error_at(no_files, CERTPIN_E_SCHEMA, "$.domains[0].trust_anchors", "\"pinned\"",
	                NULL);
}

/* ---- the builder API -------------------------------------------------------- */

static void builder_builds_a_policy_in_code(void **state)
{
	(void)state;
	certpin_builder *b = certpin_builder_new(NULL);
	assert_non_null(b);
	assert_int_equal(certpin_builder_set_unlisted(b, CERTPIN_UNLISTED_DENY), CERTPIN_OK);
	assert_int_equal(certpin_builder_set_unlisted(b, (certpin_unlisted)7),
	                 CERTPIN_E_INVALID_ARG);
	assert_int_equal(certpin_builder_set_validation(b, (certpin_validation)9),
	                 CERTPIN_E_INVALID_ARG);
	static const char *const pins[] = {P1, P2};
	certpin_rule_spec s;
	memset(&s, 0, sizeof s);
	s.host = "**.example.com";
	s.pins = pins;
	s.n_pins = 2;
	s.has_expires = 1;
	s.expires = 1900000000;
	certpin_error err;
	assert_int_equal(certpin_builder_add_rule(b, &s, &err), CERTPIN_OK);
	memset(&s, 0, sizeof s);
	s.host = "public.example.com";
	s.exclude = 1;
	assert_int_equal(certpin_builder_add_rule(b, &s, &err), CERTPIN_OK);
	memset(&s, 0, sizeof s);
	s.host = "legacy.example.org";
	s.pins = pins;
	s.n_pins = 2;
	s.validation = CERTPIN_VALIDATION_OPENSSL;
	assert_int_equal(certpin_builder_add_rule(b, &s, &err), CERTPIN_OK);
	/* Set after the rules: still the default of rules that set none. */
	assert_int_equal(certpin_builder_set_validation(b, CERTPIN_VALIDATION_WEBPKI), CERTPIN_OK);

	certpin_policy *p = NULL;
	certpin_warnings *w = NULL;
	assert_int_equal(certpin_builder_finish(b, 0, &p, &w, &err), CERTPIN_OK);
	assert_non_null(p);
	assert_int_equal(certpin_policy_unlisted(p), CERTPIN_UNLISTED_DENY);
	const certpin_rule *r = certpin_policy_lookup(p, "a.b.example.com");
	assert_non_null(r);
	assert_string_equal(certpin_rule_host(r), "**.example.com");
	assert_int_equal(certpin_rule_validation(r), CERTPIN_VALIDATION_WEBPKI);
	int64_t t;
	assert_true(certpin_rule_expires(r, &t));
	assert_int_equal(t, 1900000000);
	assert_true(certpin_rule_is_exclude(certpin_policy_lookup(p, "public.example.com")));
	assert_int_equal(certpin_rule_validation(certpin_policy_lookup(p, "legacy.example.org")),
	                 CERTPIN_VALIDATION_OPENSSL);
	assert_null(certpin_policy_lookup(p, "example.net"));
	/* One warning: legacy has no expiry. The path is relative to the rule. */
	assert_int_equal(certpin_warnings_count(w), 1);
	certpin_warning_kind k;
	const certpin_error *we = certpin_warnings_get(w, 0, &k);
	assert_int_equal(k, CERTPIN_W_NO_EXPIRY);
	assert_int_equal(w->v[0].rule, 2);
	assert_string_equal(we->path, "");
	certpin_warnings_free(w);
	certpin_policy_free(p);
}

static void builder_error_leaves_the_builder_usable(void **state)
{
	(void)state;
	certpin_builder *b = certpin_builder_new("/nonexistent");
	static const char *const good[] = {P1, P2};
	static const char *const bad[] = {P1, "sha256/AAAA"};
	static const char *const dup[] = {P1, P1};
	static const char *const files[] = {"x.pem"};
	certpin_rule_spec s;
	certpin_error err;

	memset(&s, 0, sizeof s);
	s.host = "a.example.com";
	s.pins = bad;
	s.n_pins = 2;
	assert_int_equal(certpin_builder_add_rule(b, &s, &err), CERTPIN_E_PIN_SYNTAX);
	assert_string_equal(err.path, "pins[1]");
	s.pins = NULL;
	s.n_pins = 0;
	s.leaf_pins = dup;
	s.n_leaf_pins = 2;
	assert_int_equal(certpin_builder_add_rule(b, &s, &err), CERTPIN_E_SCHEMA);
	assert_string_equal(err.path, "leaf_pins[1]");
	s.leaf_pins = NULL;
	s.n_leaf_pins = 0;
	assert_int_equal(certpin_builder_add_rule(b, &s, &err), CERTPIN_E_SCHEMA);
	assert_string_equal(err.path, "pins");
	s.exclude = 1;
	s.pin_files = files;
	s.n_pin_files = 1;
	assert_int_equal(certpin_builder_add_rule(b, &s, &err), CERTPIN_E_SCHEMA);
	assert_string_equal(err.path, "pin_files");
	s.exclude = 0;
	assert_int_equal(certpin_builder_add_rule(b, &s, &err), CERTPIN_E_IO);
	assert_string_equal(err.path, "pin_files[0]");
	assert_non_null(strstr(err.message, "/nonexistent/x.pem"));
	s.pin_files = NULL;
	s.n_pin_files = 0;
	s.pins = good;
	s.n_pins = 2;
	s.host = "a..example.com";
	assert_int_equal(certpin_builder_add_rule(b, &s, &err), CERTPIN_E_HOST);
	assert_string_equal(err.path, "host");
	s.host = NULL;
	assert_int_equal(certpin_builder_add_rule(b, &s, &err), CERTPIN_E_SCHEMA);
	assert_string_equal(err.path, "host");
	s.host = "a.example.com";
	s.mode = (certpin_mode)5;
	assert_int_equal(certpin_builder_add_rule(b, &s, &err), CERTPIN_E_INVALID_ARG);
	assert_string_equal(err.path, "mode");
	s.mode = CERTPIN_MODE_ENFORCE;
	assert_int_equal(certpin_builder_add_rule(NULL, &s, &err), CERTPIN_E_INVALID_ARG);
	assert_int_equal(certpin_builder_add_rule(b, NULL, &err), CERTPIN_E_INVALID_ARG);

	/* After all that the builder takes a good rule and holds only it. */
	assert_int_equal(certpin_builder_add_rule(b, &s, &err), CERTPIN_OK);
	s.host = "A.EXAMPLE.COM";
	assert_int_equal(certpin_builder_add_rule(b, &s, &err), CERTPIN_OK);
	certpin_policy *p = NULL;
	assert_int_equal(certpin_builder_finish(b, 0, &p, NULL, &err), CERTPIN_E_DUPLICATE);
	assert_null(p);
	assert_string_equal(err.path, "domains[1].host");
	assert_string_equal(err.message, "duplicate rule for 'a.example.com' (also domains[0])");

	b = certpin_builder_new(NULL);
	s.host = "a.example.com";
	assert_int_equal(certpin_builder_add_rule(b, &s, &err), CERTPIN_OK);
	assert_int_equal(certpin_builder_finish(b, 0, &p, NULL, &err), CERTPIN_OK);
	assert_int_equal(certpin_policy_rule_count(p), 1);
	certpin_policy_free(p);

	/* finish consumes the builder even on bad arguments; free(NULL) is a no-op. */
	assert_int_equal(certpin_builder_finish(certpin_builder_new(NULL), 0, NULL, NULL, &err),
	                 CERTPIN_E_INVALID_ARG);
	assert_int_equal(certpin_builder_finish(NULL, 0, &p, NULL, &err), CERTPIN_E_INVALID_ARG);
	certpin_builder_free(NULL);
	certpin_builder_free(certpin_builder_new("x"));
}

static void builder_strict_error_names_the_rule(void **state)
{
	(void)state;
	certpin_builder *b = certpin_builder_new(NULL);
	static const char *const one[] = {P1};
	certpin_rule_spec s;
	memset(&s, 0, sizeof s);
	s.host = "a.example.com";
	s.leaf_pins = one;
	s.n_leaf_pins = 1;
	s.has_expires = 1;
	certpin_error err;
	assert_int_equal(certpin_builder_add_rule(b, &s, &err), CERTPIN_OK);
	certpin_policy *p = NULL;
	assert_int_equal(certpin_builder_finish(b, CERTPIN_LOAD_STRICT, &p, NULL, &err),
	                 CERTPIN_E_STRICT);
	assert_null(p);
	assert_string_equal(err.path, "domains[0].leaf_pins");
}

static void policy_reference_is_counted(void **state)
{
	(void)state;
	certpin_policy *p = load_ok(example, NULL);
	assert_ptr_equal(certpin_policy_ref(p), p);
	certpin_policy_free(p);
	/* Still alive: the second reference holds it. */
	assert_int_equal(certpin_policy_rule_count(p), 1);
	assert_non_null(certpin_policy_lookup(p, "api.example.com"));
	certpin_policy_free(p);
	certpin_policy_free(NULL);
	assert_null(certpin_policy_ref(NULL));
	certpin_warnings_free(NULL);
	assert_int_equal(certpin_warnings_count(NULL), 0);
	assert_int_equal(certpin_policy_rule_count(NULL), 0);
	assert_null(certpin_policy_lookup(NULL, "a.example.com"));
	assert_null(certpin_rule_host(NULL));
	assert_int_equal(certpin_rule_pin_count(NULL, CERTPIN_SCOPE_ANY), 0);
}

/* ---- caps ------------------------------------------------------------------ */

static char *many_domains(size_t n, size_t *len)
{
	size_t cap = 64 + n * 256;
	char *json = malloc(cap);
	assert_non_null(json);
	size_t at = (size_t)snprintf(json, cap, "{\"certpin\": 1, \"domains\": [\n");
	for (size_t i = 0; i < n; i++)
		at += (size_t)snprintf(json + at, cap - at,
		                       "%s{\"host\": \"h%zu.example.com\", " TWO_PINS ", " EXP "}",
		                       i ? ",\n" : "", i);
	at += (size_t)snprintf(json + at, cap - at, "]}\n");
	*len = at;
	return json;
}

static void hundred_thousand_domains_load_and_look_up(void **state)
{
	(void)state;
	size_t len;
	char *json = many_domains(CERTPIN_MAX_DOMAINS, &len);
	certpin_policy *p = NULL;
	certpin_warnings *w = NULL;
	certpin_error err;
	assert_int_equal(certpin_policy_load_mem(json, len, NULL, NULL, 0, &p, &w, &err),
	                 CERTPIN_OK);
	assert_int_equal(certpin_policy_rule_count(p), CERTPIN_MAX_DOMAINS);
	assert_int_equal(certpin_warnings_count(w), 0);
	const char *hosts[] = {"h0.example.com", "h54321.example.com", "H99999.EXAMPLE.COM"};
	for (size_t i = 0; i < 3; i++) {
		const certpin_rule *r = certpin_policy_lookup(p, hosts[i]);
		assert_non_null(r);
		char want[64];
		snprintf(want, sizeof want, "%s", hosts[i]);
		for (char *c = want; *c; c++)
			if (*c >= 'A' && *c <= 'Z')
				*c = (char)(*c - 'A' + 'a');
		assert_string_equal(certpin_rule_host(r), want);
	}
	assert_null(certpin_policy_lookup(p, "h100000.example.com"));
	certpin_warnings_free(w);
	certpin_policy_free(p);
	free(json);

	/* An error in the last domain is located in the split text. */
	json = many_domains(3, &len);
	char *bad = strstr(json, "h2.example");
	bad[1] = '!';
	expect_error_at(json, CERTPIN_E_HOST, "$.domains[2].host", "\"h!.example", NULL);
	free(json);
}

static void hundred_thousand_and_one_domains_are_too_many(void **state)
{
	(void)state;
	size_t len;
	char *json = many_domains(CERTPIN_MAX_DOMAINS + 1, &len);
	certpin_policy *p = NULL;
	certpin_error err;
	assert_int_equal(certpin_policy_load_mem(json, len, NULL, NULL, 0, &p, NULL, &err),
	                 CERTPIN_E_TOO_LARGE);
	assert_null(p);
	assert_string_equal(err.path, "$.domains");
	assert_int_equal(err.line, 1);
	assert_int_equal(err.column, 27);
	free(json);
}

static const char *write_sized_policy(const char *name, size_t size)
{
	const char *head = "{\"certpin\": 1, \"domains\": []}";
	char *buf = malloc(size);
	assert_non_null(buf);
	memset(buf, ' ', size);
	memcpy(buf, head, strlen(head));
	buf[size - 1] = '\n';
	const char *path = tu_write_tmp(name, buf, size);
	free(buf);
	return path;
}

static void policy_file_over_one_mib_is_too_large(void **state)
{
	(void)state;
	certpin_policy *p = NULL;
	certpin_error err;
	const char *path = write_sized_policy("big.json", CERTPIN_MAX_FILE_SIZE);
	assert_int_equal(certpin_policy_load_file(path, 0, &p, NULL, &err), CERTPIN_OK);
	certpin_policy_free(p);
	path = write_sized_policy("too-big.json", CERTPIN_MAX_FILE_SIZE + 1);
	assert_int_equal(certpin_policy_load_file(path, 0, &p, NULL, &err), CERTPIN_E_TOO_LARGE);
	assert_null(p);
	assert_string_equal(err.file, path);
}

static void unreadable_policy_file_is_an_io_error(void **state)
{
	(void)state;
	certpin_policy *p = NULL;
	certpin_error err;
	char path[600];
	snprintf(path, sizeof path, "%s/no-such-policy.json", tu_tmpdir());
	assert_int_equal(certpin_policy_load_file(path, 0, &p, NULL, &err), CERTPIN_E_IO);
	assert_null(p);
	assert_string_equal(err.file, path);
	assert_non_null(strstr(err.message, "No such file"));
	assert_int_equal(certpin_policy_load_file(tu_tmpdir(), 0, &p, NULL, &err), CERTPIN_E_IO);
	assert_null(p);

	/* A syntax error in a file names the file as given. */
	const char *bad = tu_write_tmp("bad.json", "{\n  \"certpin\": 1,\n  oops\n}", 25);
	assert_int_equal(certpin_policy_load_file(bad, 0, &p, NULL, &err), CERTPIN_E_JSON);
	assert_string_equal(err.file, bad);
	assert_int_equal(err.line, 3);
}

/* A PEM file of `count` copies of one self-signed certificate, in the temp dir. */
static const char *pem_of_copies(const char *name, int count)
{
	EVP_PKEY *k = tu_key(TU_P256);
	X509 *x = tu_cert(k, "Budget CA", NULL, NULL, 1, NULL, 0, 4102444800);
	BIO *bio = BIO_new(BIO_s_mem());
	for (int i = 0; i < count; i++)
		assert_int_equal(PEM_write_bio_X509(bio, x), 1);
	char *pem = NULL;
	long n = BIO_get_mem_data(bio, &pem);
	const char *path = tu_write_tmp(name, pem, (size_t)n);
	BIO_free(bio);
	X509_free(x);
	EVP_PKEY_free(k);
	return path;
}

static void pin_file_reads_per_policy_are_capped(void **state)
{
	(void)state;
	static char path[512];
	snprintf(path, sizeof path, "%s", pem_of_copies("one.pem", 1));
	const char *files[CERTPIN_MAX_PIN_FILES];
	for (size_t i = 0; i < CERTPIN_MAX_PIN_FILES; i++)
		files[i] = path;
	certpin_builder *b = certpin_builder_new(NULL);
	certpin_error err;
	char host[64];
	certpin_rule_spec s = {0};
	s.pin_files = files;
	s.n_pin_files = CERTPIN_MAX_PIN_FILES;
	s.host = host;
	/* 16 rules x 16 files = 256 reads: allowed; the 257th is refused */
	for (int r = 0; r < 16; r++) {
		snprintf(host, sizeof host, "h%d.example.com", r);
		assert_int_equal(certpin_builder_add_rule(b, &s, &err), CERTPIN_OK);
	}
	snprintf(host, sizeof host, "last.example.com");
	s.n_pin_files = 1;
	assert_int_equal(certpin_builder_add_rule(b, &s, &err), CERTPIN_E_TOO_LARGE);
	assert_string_equal(err.path, "pin_files[0]");
	assert_non_null(strstr(err.message, "more than 256 pin files"));
	certpin_builder_free(b);
}

static void pin_file_objects_per_policy_are_capped(void **state)
{
	(void)state;
	static char path[512];
	snprintf(path, sizeof path, "%s", pem_of_copies("many.pem", 1000));
	const char *files[] = {path, path, path, path, path};
	certpin_builder *b = certpin_builder_new(NULL);
	certpin_error err;
	certpin_rule_spec s = {0};
	s.host = "api.example.com";
	s.pin_files = files;
	s.n_pin_files = 4; /* 4,000 objects: allowed */
	assert_int_equal(certpin_builder_add_rule(b, &s, &err), CERTPIN_OK);
	s.host = "www.example.com";
	s.n_pin_files = 1; /* 5,000 in the policy: refused, and the builder keeps its count */
	assert_int_equal(certpin_builder_add_rule(b, &s, &err), CERTPIN_E_TOO_LARGE);
	assert_string_equal(err.path, "pin_files[0]");
	assert_non_null(strstr(err.message, "more than 4096"));
	certpin_policy *p = NULL;
	assert_int_equal(certpin_builder_finish(b, 0, &p, NULL, &err), CERTPIN_OK);
	assert_int_equal(certpin_policy_rule_count(p), 1);
	certpin_policy_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(architecture_example_loads_with_its_values),
	    cmocka_unit_test(every_domain_key_is_read),
	    cmocka_unit_test(empty_domains_array_loads_an_empty_policy),
	    cmocka_unit_test(escaped_keys_are_read_and_located),
	    cmocka_unit_test(unknown_top_level_key_is_refused_at_the_key),
	    cmocka_unit_test(unknown_domain_key_suggests_the_near_one),
	    cmocka_unit_test(wrong_type_of_every_domain_key_is_refused_at_the_value),
	    cmocka_unit_test(wrong_type_of_every_top_level_key_is_refused_at_the_value),
	    cmocka_unit_test(bad_enum_values_are_refused_with_the_allowed_ones),
	    cmocka_unit_test(format_version_2_is_refused),
	    cmocka_unit_test(missing_certpin_domains_and_host_are_refused),
	    cmocka_unit_test(empty_pin_list_is_refused),
	    cmocka_unit_test(exclude_rule_with_pins_is_refused),
	    cmocka_unit_test(duplicate_host_is_refused_at_the_later_rule),
	    cmocka_unit_test(duplicate_json_key_is_a_json_error_with_jansson_position),
	    cmocka_unit_test(bad_pin_is_refused_with_its_path_and_position),
	    cmocka_unit_test(bad_host_is_refused_at_the_host),
	    cmocka_unit_test(bad_expires_is_refused_at_the_value),
	    cmocka_unit_test(nul_in_a_string_is_a_json_error),
	    cmocka_unit_test(syntax_error_reports_jansson_line_and_column),
	    cmocka_unit_test(trailing_garbage_is_a_json_error),
	    cmocka_unit_test(sixty_five_pins_are_too_many),
	    cmocka_unit_test(report_uri_must_be_https),
	    cmocka_unit_test(one_pin_warns_few_pins_at_the_pins),
	    cmocka_unit_test(missing_expiry_warns_no_expiry_at_the_domain),
	    cmocka_unit_test(root_only_pin_file_warns_root_only),
	    cmocka_unit_test(strict_flag_turns_a_warning_into_an_error),
	    cmocka_unit_test(relative_pin_file_is_resolved_against_the_policy_directory),
	    cmocka_unit_test(key_file_adds_its_pin_and_duplicates_merge),
	    cmocka_unit_test(missing_pin_file_is_an_io_error_at_its_path),
	    cmocka_unit_test(pinned_trust_anchors_collect_the_ca_certificates),
	    cmocka_unit_test(builder_builds_a_policy_in_code),
	    cmocka_unit_test(builder_error_leaves_the_builder_usable),
	    cmocka_unit_test(builder_strict_error_names_the_rule),
	    cmocka_unit_test(policy_reference_is_counted),
	    cmocka_unit_test(hundred_thousand_domains_load_and_look_up),
	    cmocka_unit_test(hundred_thousand_and_one_domains_are_too_many),
	    cmocka_unit_test(policy_file_over_one_mib_is_too_large),
	    cmocka_unit_test(unreadable_policy_file_is_an_io_error),
	    cmocka_unit_test(pin_file_reads_per_policy_are_capped),
	    cmocka_unit_test(pin_file_objects_per_policy_are_capped),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
