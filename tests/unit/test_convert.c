/*
 * certpin convert (src/convert/): every importer on real-world shaped input
 * and on refused input (each with its error), every exporter, the --lossy
 * rules (each loss listed; without --lossy nothing is written), and round
 * trips certpin -> X -> certpin compared as normalised models.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <plist/plist.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert.h"
#include "testutil.h"

#define A "7HIpactkIAq2Y49orFOOQKurWxmmSFZhBCoQYcRhJ3Y="
#define B "fwza0LRMXouZHRC8Ei+4PyuldPRcf3UKgO/04cDM1oE="
#define C "Ln0sA6lQeuJl7PW1NWiFpTOTogKdJBOUmXJloaJa78Y="
#define D "GKw+c0PwFokMUQ6T+TUmEWnZ4/VlQ2Qpgw+vCTT0+OQ="
#define PA "sha256/" A
#define PB "sha256/" B
#define PC "sha256/" C
#define PD "sha256/" D
#define NOW 1798761600 /* 2027-01-01T00:00:00Z */

#define DATA CERTPIN_SRC_DIR "/tests/data/convert"
#define RES_XML DATA "/res/xml"

static cv_opts opts(const char *name, const char *base_dir)
{
	cv_opts o;
	memset(&o, 0, sizeof o);
	o.name = name;
	o.base_dir = base_dir;
	o.now = NOW;
	return o;
}

/* Imports text; on failure returns NULL with err and log filled. */
static cv_policy *import(cv_format f, const char *text, const cv_opts *o, cv_log *log,
                         certpin_error *err)
{
	cv_policy *p = NULL;
	memset(err, 0, sizeof *err);
	certpin_err rc = cv_import(f, text, strlen(text), o, &p, log, err);
	if (rc != CERTPIN_OK) {
		assert_null(p);
		assert_int_equal(err->code, rc);
		assert_true(err->message[0] != '\0');
	}
	return p;
}

static cv_policy *import_ok(cv_format f, const char *text, const cv_opts *o)
{
	cv_log log = {0};
	certpin_error err;
	cv_policy *p = import(f, text, o, &log, &err);
	if (p == NULL) {
		char line[1024];
		certpin_error_format(&err, line, sizeof line);
		fail_msg("import failed: %s", line);
	}
	cv_log_free(&log);
	return p;
}

static cv_policy *import_file(cv_format f, const char *path, const char *base_dir, cv_log *log)
{
	size_t len;
	uint8_t *data = tu_read_file(path, &len);
	cv_opts o = opts(path, base_dir);
	cv_policy *p = NULL;
	certpin_error err;
	certpin_err rc = cv_import(f, (const char *)data, len, &o, &p, log, &err);
	free(data);
	if (rc != CERTPIN_OK) {
		char line[1024];
		certpin_error_format(&err, line, sizeof line);
		fail_msg("import of %s failed: %s", path, line);
	}
	return p;
}

/* Expects the import to fail with code, at line (0: any), with msg in the message. */
static void refused(cv_format f, const char *text, certpin_err code, unsigned line,
                    const char *msg)
{
	cv_opts o = opts("in", "/nonexistent-certpin-test");
	o.host = "api.example.com";
	cv_log log = {0};
	certpin_error err;
	cv_policy *p = import(f, text, &o, &log, &err);
	if (p != NULL)
		fail_msg("accepted: %s", text);
	if (err.code != code || strstr(err.message, msg) == NULL || (line && err.line != line))
		fail_msg("expected code %d line %u '%s', got code %d %u:%u '%s'", code, line, msg,
		         err.code, err.line, err.column, err.message);
	assert_string_equal(err.file, "in");
	cv_log_free(&log);
}

/* Exports; returns the text (caller frees) or NULL with err. */
static char *export(cv_format f, const cv_policy *p, const cv_opts *o, cv_log *log,
                    certpin_error *err)
{
	cv_buf b = {0};
	memset(err, 0, sizeof *err);
	certpin_err rc = cv_export(f, p, o, &b, log, err);
	if (rc != CERTPIN_OK) {
		assert_int_equal(err->code, rc);
		assert_int_equal(b.n, 0);
		cv_buf_free(&b);
		return NULL;
	}
	return b.p;
}

static int log_has(const cv_log *log, cv_log_kind kind, const char *text)
{
	for (size_t i = 0; i < log->n; i++)
		if (log->v[i].kind == kind && strstr(log->v[i].text, text) != NULL)
			return 1;
	return 0;
}

static const cv_rule *rule(cv_policy *p, const char *host)
{
	const cv_rule *r = cv_policy_find(p, host);
	if (r == NULL)
		fail_msg("no rule %s", host);
	return r;
}

/* ---- round trips ------------------------------------------------------ */

/*
 * certpin JSON -> f -> certpin model, normalised, equals the original
 * normalised. base_dir serves both the policy's pin_files and f's files.
 */
static void round_trip(cv_format f, const char *json, const char *host, const char *base_dir)
{
	cv_opts o = opts("policy.json", base_dir);
	o.host = host;
	cv_policy *orig = import_ok(CV_CERTPIN, json, &o);
	cv_log log = {0};
	certpin_error err;
	char *text = export(f, orig, &o, &log, &err);
	if (text == NULL) {
		for (size_t i = 0; i < log.n; i++)
			print_message("  %s\n", log.v[i].text);
		fail_msg("export to %s failed: %s", cv_format_name(f), err.message);
	}
	assert_int_equal(log.losses, 0);
	cv_opts o2 = opts("exported", base_dir);
	o2.host = host;
	cv_policy *back = import_ok(f, text, &o2);
	cv_normalise(orig);
	cv_normalise(back);
	if (!cv_equal(orig, back)) {
		cv_buf a = {0}, b = {0};
		cv_log l2 = {0};
		assert_int_equal(cv_export(CV_CERTPIN, orig, &o, &a, &l2, &err), CERTPIN_OK);
		assert_int_equal(cv_export(CV_CERTPIN, back, &o, &b, &l2, &err), CERTPIN_OK);
		fail_msg("round trip through %s changed the policy:\n%s\n--- via ---\n%s\n--- back ---\n%s",
		         cv_format_name(f), a.p, text, b.p);
	}
	free(text);
	cv_log_free(&log);
	cv_policy_free(orig);
	cv_policy_free(back);
}

static void certpin_round_trip_keeps_every_field(void **state)
{
	(void)state;
	round_trip(CV_CERTPIN,
	           "{\"certpin\":1,\"unlisted_hosts\":\"deny\",\"validation\":\"openssl\",\"domains\":["
	           "{\"host\":\"api.example.com\",\"pins\":[\"" PA "\",\"cert-sha256/" B "\"],"
	           "\"leaf_pins\":[\"" PC "\"],\"ca_pins\":[\"" PD "\"],"
	           "\"expires\":\"2027-06-01T12:00:00Z\",\"on_expiry\":\"block\",\"mode\":\"report\","
	           "\"validation\":\"webpki\",\"report_uris\":[\"https://r.example.com/p\"]},"
	           "{\"host\":\"*.example.com\",\"pins\":[\"" PA "\",\"" PB "\"]},"
	           "{\"host\":\"example.org\",\"include_subdomains\":true,\"pins\":[\"" PA "\"]},"
	           "{\"host\":\"iot.example.net\",\"pin_files\":[\"../raw/my_ca.pem\"],"
	           "\"trust_anchors\":\"pinned\"},"
	           "{\"host\":\"static.example.org\",\"exclude\":true}]}",
	           NULL, RES_XML);
}

static void android_round_trip(void **state)
{
	(void)state;
	round_trip(CV_ANDROID_NSC,
	           "{\"certpin\":1,\"domains\":["
	           "{\"host\":\"example.com\",\"include_subdomains\":true,\"pins\":[\"" PA "\",\"" PB
	           "\"],\"expires\":\"2027-06-01\"},"
	           "{\"host\":\"api.example.com\",\"pins\":[\"" PC "\",\"" PD "\"]},"
	           "{\"host\":\"static.example.com\",\"exclude\":true},"
	           "{\"host\":\"iot.example.net\",\"pins\":[\"" PA "\"],"
	           "\"pin_files\":[\"../raw/my_ca.pem\"],\"trust_anchors\":\"pinned\"}]}",
	           NULL, RES_XML);
}

static void ios_round_trip(void **state)
{
	(void)state;
	round_trip(CV_IOS_PLIST,
	           "{\"certpin\":1,\"domains\":["
	           "{\"host\":\"example.org\",\"include_subdomains\":true,\"ca_pins\":[\"" PA "\",\"" PB
	           "\"]},"
	           "{\"host\":\"api.example.org\",\"leaf_pins\":[\"" PC "\"],\"ca_pins\":[\"" PD
	           "\"]}]}",
	           NULL, NULL);
}

static void trustkit_round_trip(void **state)
{
	(void)state;
	round_trip(CV_TRUSTKIT,
	           "{\"certpin\":1,\"domains\":["
	           "{\"host\":\"yahoo.com\",\"include_subdomains\":true,\"pins\":[\"" PA "\",\"" PB
	           "\"]},"
	           "{\"host\":\"login.yahoo.com\",\"exclude\":true},"
	           "{\"host\":\"api.example.com\",\"pins\":[\"" PC "\",\"" PD "\"],"
	           "\"expires\":\"2027-12-01\",\"mode\":\"report\","
	           "\"report_uris\":[\"https://r.example.com/a\",\"https://r.example.com/b\"]}]}",
	           NULL, NULL);
}

static void okhttp_round_trip(void **state)
{
	(void)state;
	/* The specific rule already carries the pattern's pins: no union loss. */
	round_trip(CV_OKHTTP,
	           "{\"certpin\":1,\"domains\":["
	           "{\"host\":\"*.example.com\",\"pins\":[\"" PA "\",\"" PB "\"]},"
	           "{\"host\":\"**.example.org\",\"pins\":[\"" PA "\"]},"
	           "{\"host\":\"api.example.com\",\"pins\":[\"" PA "\",\"" PB "\",\"" PC "\"]}]}",
	           NULL, NULL);
}

static void curl_round_trip(void **state)
{
	(void)state;
	round_trip(CV_CURL,
	           "{\"certpin\":1,\"domains\":[{\"host\":\"api.example.com\",\"leaf_pins\":[\"" PA
	           "\",\"" PB "\"]}]}",
	           "api.example.com", NULL);
}

static void hpkp_round_trip(void **state)
{
	(void)state;
	round_trip(CV_HPKP,
	           "{\"certpin\":1,\"domains\":[{\"host\":\"**.example.com\",\"pins\":[\"" PA
	           "\",\"" PB "\"],\"expires\":\"2027-03-01T00:00:00Z\",\"mode\":\"report\","
	           "\"report_uris\":[\"https://r.example.com/hpkp\"]}]}",
	           "example.com", NULL);
}

/* ---- Android ------------------------------------------------------------ */

static void android_documented_file_imports_nested_configs(void **state)
{
	(void)state;
	cv_log log = {0};
	cv_policy *p = import_file(CV_ANDROID_NSC, RES_XML "/network_security_config.xml", RES_XML,
	                           &log);
	assert_int_equal(p->n, 4);
	const cv_rule *r = rule(p, "**.example.com");
	assert_int_equal(r->pins.n, 2);
	assert_string_equal(r->pins.v[0], PA);
	assert_true(r->has_expires);
	assert_int_equal(r->expires, 1811894400); /* 2027-06-02T00:00:00Z: end of 2027-06-01 */
	assert_int_equal(r->on_expiry, CERTPIN_ON_EXPIRY_UNPINNED);
	/* nested: inherits the pin-set, sets its own cleartext */
	r = rule(p, "insecure.example.com");
	assert_int_equal(r->pins.n, 2);
	assert_true(r->has_expires);
	assert_int_equal(r->cleartext, 1);
	/* nested with its own pin-set: no expiry inherited, whitespace around the name */
	r = rule(p, "api.example.com");
	assert_string_equal(r->pins.v[0], PC);
	assert_false(r->has_expires);
	/* @raw/ private CA */
	r = rule(p, "iot.internal.example.net");
	assert_int_equal(r->trust_anchors, CERTPIN_ANCHORS_PINNED);
	assert_int_equal(r->pin_files.n, 1);
	assert_string_equal(r->pin_files.v[0], "../raw/my_ca.pem");
	assert_int_equal(r->file_pins.n, 1); /* the CA's pin, read from the file */
	assert_int_equal(p->base_cleartext, 0);
	assert_non_null(p->debug_overrides);
	assert_true(log_has(&log, CV_NOTE, "debug-overrides apply to debuggable builds only"));
	assert_true(log_has(&log, CV_NOTE, "cleartextTrafficPermitted has no effect on pinning"));
	assert_int_equal(log.losses, 0);
	cv_log_free(&log);

	/* android -> android keeps cleartextTrafficPermitted and debug-overrides */
	cv_opts o = opts("x", RES_XML);
	certpin_error err;
	char *xml = export(CV_ANDROID_NSC, p, &o, &log, &err);
	assert_non_null(xml);
	assert_non_null(strstr(xml, "<base-config cleartextTrafficPermitted=\"false\"/>"));
	assert_non_null(strstr(xml, "<domain-config cleartextTrafficPermitted=\"true\">"));
	assert_non_null(strstr(xml, "<certificates overridePins=\"true\" src=\"user\"/>"));
	assert_non_null(strstr(xml, "<certificates src=\"@raw/my_ca\"/>"));
	assert_true(log_has(&log, CV_NOTE, "copy ../raw/my_ca.pem to res/raw/"));
	cv_policy *back = import_ok(CV_ANDROID_NSC, xml, &o);
	assert_int_equal(back->n, 4);
	assert_int_equal(back->base_cleartext, 0);
	assert_int_equal(rule(back, "insecure.example.com")->cleartext, 1);
	assert_non_null(back->debug_overrides);
	free(xml);
	cv_log_free(&log);
	cv_policy_free(back);
	cv_policy_free(p);
}

static void android_domain_config_without_pin_set_is_an_exclude_rule(void **state)
{
	(void)state;
	cv_opts o = opts("x", NULL);
	cv_policy *p = import_ok(CV_ANDROID_NSC,
	                         "<network-security-config>\n"
	                         " <domain-config><domain includeSubdomains=\"true\">example.com</domain>"
	                         "  <pin-set><pin digest=\"SHA-256\">" A "</pin></pin-set>\n"
	                         " </domain-config>\n"
	                         " <domain-config cleartextTrafficPermitted=\"false\">"
	                         "<domain>cdn.example.com</domain></domain-config>\n"
	                         "</network-security-config>\n",
	                         &o);
	assert_true(rule(p, "cdn.example.com")->exclude);
	cv_policy_free(p);
}

static void android_refuses_doctype_xxe_and_entity_expansion(void **state)
{
	(void)state;
	refused(CV_ANDROID_NSC,
	        "<?xml version=\"1.0\"?>\n<!DOCTYPE n [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>\n"
	        "<network-security-config><domain-config><domain>&xxe;</domain>"
	        "</domain-config></network-security-config>\n",
	        CERTPIN_E_SCHEMA, 2, "DOCTYPE not allowed");
	refused(CV_ANDROID_NSC,
	        "<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n <!ENTITY lol \"lol\">\n"
	        " <!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n"
	        " <!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">\n]>\n"
	        "<network-security-config>&lol3;</network-security-config>\n",
	        CERTPIN_E_SCHEMA, 2, "DOCTYPE not allowed");
	/* UTF-16 could hide a DOCTYPE from the byte scan: refused as not UTF-8 */
	static const char utf16[] = "<\0n\0/\0>\0";
	cv_opts o = opts("in", NULL);
	cv_policy *p = NULL;
	certpin_error err;
	assert_int_equal(cv_import(CV_ANDROID_NSC, utf16, sizeof utf16 - 1, &o, &p, NULL, &err),
	                 CERTPIN_E_SCHEMA);
	assert_non_null(strstr(err.message, "UTF-8"));
	/* an undeclared entity reference stays an error, never expanded */
	refused(CV_ANDROID_NSC,
	        "<network-security-config><domain-config><domain>&ext;</domain></domain-config>"
	        "</network-security-config>",
	        CERTPIN_E_SCHEMA, 1, "XML: Entity 'ext' not defined");
}

static void android_refuses_what_it_cannot_read(void **state)
{
	(void)state;
#define NSC(body) "<network-security-config>\n" body "\n</network-security-config>\n"
#define DC(body) "<domain-config><domain>api.example.com</domain>" body "</domain-config>"
	refused(CV_ANDROID_NSC, "<network-security-config>\n<domain-config>\n</network",
	        CERTPIN_E_SCHEMA, 3, "XML: ");
	refused(CV_ANDROID_NSC, "<config/>", CERTPIN_E_SCHEMA, 1,
	        "the root element must be <network-security-config>");
	refused(CV_ANDROID_NSC, NSC(DC("<pin-set>\n<pin digest=\"SHA-1\">" A "</pin></pin-set>")),
	        CERTPIN_E_PIN_ALGORITHM, 3, "pin digest must be \"SHA-256\"");
	refused(CV_ANDROID_NSC, NSC(DC("<pin-set><pin digest=\"SHA-256\">abc=</pin></pin-set>")),
	        CERTPIN_E_PIN_SYNTAX, 2, "<pin>: ");
	refused(CV_ANDROID_NSC, NSC(DC("<pin-set expiration=\"2027-6-1\"></pin-set>")),
	        CERTPIN_E_TIME, 2, "pin-set expiration must be yyyy-MM-dd");
	refused(CV_ANDROID_NSC, NSC(DC("<pinset/>")), CERTPIN_E_SCHEMA, 2,
	        "<domain-config>: unknown element <pinset>");
	refused(CV_ANDROID_NSC, NSC("<domain-config><domain include=\"true\">a.com</domain>"
	                            "</domain-config>"),
	        CERTPIN_E_SCHEMA, 2, "<domain>: unknown attribute 'include'");
	refused(CV_ANDROID_NSC, NSC("<domain-config><domain>*.example.com</domain></domain-config>"),
	        CERTPIN_E_HOST, 2, "<domain> must name a host");
	refused(CV_ANDROID_NSC,
	        NSC(DC("<pin-set><pin digest=\"SHA-256\">" A "</pin></pin-set>") "\n"
	            DC("<pin-set><pin digest=\"SHA-256\">" B "</pin></pin-set>")),
	        CERTPIN_E_DUPLICATE, 3, "domain 'api.example.com' is configured twice");
	refused(CV_ANDROID_NSC, NSC(DC("<trust-anchors><certificates src=\"@raw/nope\"/>"
	                               "</trust-anchors>")),
	        CERTPIN_E_IO, 2, "@raw/nope: no such certificate file");
	refused(CV_ANDROID_NSC, NSC("<base-config/>"), CERTPIN_E_SCHEMA, 1,
	        "no <domain-config>: nothing is pinned");
	/* A host the policy rules refuse: named with the domain's line. */
	refused(CV_ANDROID_NSC,
	        NSC("\n<domain-config><domain>bad..host</domain><pin-set><pin digest=\"SHA-256\">" A
	            "</pin></pin-set></domain-config>"),
	        CERTPIN_E_HOST, 3, "rule for 'bad..host': host: ");
}

static void android_override_pins_is_a_loss_on_import(void **state)
{
	(void)state;
	const char *xml = NSC(DC("<trust-anchors><certificates src=\"system\" overridePins=\"true\"/>"
	                         "</trust-anchors><pin-set><pin digest=\"SHA-256\">" A "</pin>"
	                         "</pin-set>"));
	cv_opts o = opts("in", NULL);
	cv_log log = {0};
	certpin_error err;
	assert_null(import(CV_ANDROID_NSC, xml, &o, &log, &err));
	assert_int_equal(err.code, CERTPIN_E_SCHEMA);
	assert_non_null(strstr(err.message, "1 feature cannot be expressed in a certpin policy"));
	assert_true(log_has(&log, CV_LOSS, "overridePins=\"true\""));
	cv_log_free(&log);
	o.lossy = 1;
	cv_policy *p = import(CV_ANDROID_NSC, xml, &o, &log, &err);
	assert_non_null(p);
	assert_int_equal(log.losses, 1);
	cv_log_free(&log);
	cv_policy_free(p);
}

/* Without --lossy: no output and every loss listed; with it: output, same list. */
static void losses(cv_format f, const char *json, const char *host, size_t n,
                   const char *const *expect)
{
	cv_opts o = opts("policy.json", NULL);
	o.host = host;
	cv_policy *p = import_ok(CV_CERTPIN, json, &o);
	cv_log log = {0};
	certpin_error err;
	char *out = export(f, p, &o, &log, &err);
	assert_null(out);
	assert_int_equal(err.code, CERTPIN_E_SCHEMA);
	assert_non_null(strstr(err.message, "cannot be expressed in"));
	if (log.losses != n) {
		for (size_t i = 0; i < log.n; i++)
			print_message("  %s\n", log.v[i].text);
		fail_msg("%s: %zu losses, expected %zu", cv_format_name(f), log.losses, n);
	}
	for (size_t i = 0; i < n; i++)
		if (!log_has(&log, CV_LOSS, expect[i]))
			fail_msg("%s: loss '%s' not listed", cv_format_name(f), expect[i]);
	cv_log_free(&log);
	o.lossy = 1;
	out = export(f, p, &o, &log, &err);
	assert_non_null(out);
	assert_int_equal(log.losses, n);
	free(out);
	cv_log_free(&log);
	cv_policy_free(p);
}

#define LOSSES(f, json, host, ...)                                                                 \
	do {                                                                                       \
		static const char *const e_[] = {__VA_ARGS__};                                     \
		losses(f, json, host, sizeof e_ / sizeof e_[0], e_);                               \
	} while (0)

static void android_export_lists_what_android_cannot_express(void **state)
{
	(void)state;
	LOSSES(CV_ANDROID_NSC,
	       "{\"certpin\":1,\"unlisted_hosts\":\"deny\",\"domains\":["
	       "{\"host\":\"api.example.com\",\"pins\":[\"" PA "\",\"cert-sha256/" B "\"],"
	       "\"mode\":\"report\",\"report_uris\":[\"https://r.example.com/\"]},"
	       "{\"host\":\"*.example.org\",\"leaf_pins\":[\"" PA "\"],"
	       "\"expires\":\"2027-06-01T12:00:00Z\",\"on_expiry\":\"block\"}]}",
	       NULL, "unlisted_hosts \"deny\"", "api.example.com: mode \"report\"",
	       "api.example.com: report_uris", "api.example.com: cert-sha256 pins",
	       "*.example.org: on_expiry \"block\"", "*.example.org: leaf_pins/ca_pins",
	       "*.example.org: Android has no one-label wildcard",
	       "*.example.org: expires is not at the end of a day");
}

/* ---- iOS ------------------------------------------------------------------ */

static void ios_info_plist_keeps_only_the_pinning_part(void **state)
{
	(void)state;
	cv_log log = {0};
	cv_policy *p = import_file(CV_IOS_PLIST, DATA "/Info.plist", NULL, &log);
	assert_int_equal(p->n, 2);
	const cv_rule *r = rule(p, "**.example.org");
	assert_int_equal(r->ca_pins.n, 2);
	assert_int_equal(r->leaf_pins.n, 0);
	assert_int_equal(r->pins.n, 0);
	r = rule(p, "api.example.org");
	assert_string_equal(r->leaf_pins.v[0], PB);
	assert_string_equal(r->ca_pins.v[0], "sha256/r/mIkG3eEpVdm+u/ko/cwxzOMo1bk4TyHIlByibiA5E=");
	assert_true(log_has(&log, CV_NOTE, "only NSAppTransportSecurity.NSPinnedDomains"));
	assert_true(log_has(&log, CV_NOTE, "keys other than NSPinnedDomains"));
	cv_log_free(&log);
	cv_policy_free(p);
}

static void ios_binary_plist_reads_like_xml(void **state)
{
	(void)state;
	size_t len;
	uint8_t *xml = tu_read_file(DATA "/Info.plist", &len);
	plist_t root = NULL;
	plist_from_xml((const char *)xml, (uint32_t)len, &root);
	assert_non_null(root);
	char *bin = NULL;
	uint32_t blen = 0;
	plist_to_bin(root, &bin, &blen);
	assert_non_null(bin);
	assert_memory_equal(bin, "bplist00", 8);
	cv_opts o = opts("Info.plist", NULL);
	cv_policy *a = NULL, *b = NULL;
	certpin_error err;
	assert_int_equal(cv_import(CV_IOS_PLIST, bin, blen, &o, &a, NULL, &err), CERTPIN_OK);
	assert_int_equal(cv_import(CV_IOS_PLIST, (const char *)xml, len, &o, &b, NULL, &err),
	                 CERTPIN_OK);
	cv_normalise(a);
	cv_normalise(b);
	assert_true(cv_equal(a, b));
	plist_to_bin_free(bin);
	plist_free(root);
	free(xml);
	cv_policy_free(a);
	cv_policy_free(b);
}

#define PL(body)                                                                                   \
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\"><dict>"                \
	"<key>NSAppTransportSecurity</key><dict><key>NSPinnedDomains</key><dict>" body             \
	"</dict></dict></dict></plist>"
#define ID(b64) "<dict><key>SPKI-SHA256-BASE64</key><string>" b64 "</string></dict>"

static void ios_refuses_what_it_cannot_read(void **state)
{
	(void)state;
	refused(CV_IOS_PLIST, "not a plist at all", CERTPIN_E_SCHEMA, 0, "not a property list");
	refused(CV_IOS_PLIST, "<plist><dict><key>CFBundleName</key><string>x</string></dict></plist>",
	        CERTPIN_E_SCHEMA, 0, "no NSAppTransportSecurity.NSPinnedDomains dict");
	refused(CV_IOS_PLIST,
	        PL("<key>a.com</key><dict><key>NSPinnedCAIdentities</key><array>" ID("abc=")
	           "</array></dict>"),
	        CERTPIN_E_PIN_SYNTAX, 0,
	        "NSPinnedDomains.a.com.NSPinnedCAIdentities[0]: SPKI-SHA256-BASE64 must be");
	refused(CV_IOS_PLIST,
	        PL("<key>a.com</key><dict><key>NSPinnedCAIdentities</key><array>" ID(A)
	           "</array><key>NSExpires</key><true/></dict>"),
	        CERTPIN_E_SCHEMA, 0, "NSPinnedDomains.a.com: unknown key 'NSExpires'");
	refused(CV_IOS_PLIST, PL("<key>a.com</key><dict><key>NSIncludesSubdomains</key><true/></dict>"),
	        CERTPIN_E_SCHEMA, 0, "has neither NSPinnedLeafIdentities nor NSPinnedCAIdentities");
	refused(CV_IOS_PLIST,
	        PL("<key>*.a.com</key><dict><key>NSPinnedCAIdentities</key><array>" ID(A)
	           "</array></dict>"),
	        CERTPIN_E_HOST, 0, "'*.a.com' is not a domain name");
	refused(CV_IOS_PLIST,
	        PL("<key>a.com</key><dict><key>NSPinnedLeafIdentities</key><array>"
	           "<dict><key>SPKI-SHA256-BASE64</key><string>" A "</string><key>x</key><true/>"
	           "</dict></array></dict>"),
	        CERTPIN_E_SCHEMA, 0, "each identity must be a dict with only SPKI-SHA256-BASE64");
}

static void ios_export_lists_what_ios_cannot_express(void **state)
{
	(void)state;
	LOSSES(CV_IOS_PLIST,
	       "{\"certpin\":1,\"domains\":["
	       "{\"host\":\"**.example.com\",\"pins\":[\"" PA "\",\"" PB "\"],"
	       "\"expires\":\"2027-06-01\"},"
	       "{\"host\":\"static.example.com\",\"exclude\":true}]}",
	       NULL, "**.example.com: expires: iOS pins do not expire",
	       "**.example.com: pins (any position): iOS knows only leaf and CA identities",
	       "static.example.com: exclude: iOS cannot unpin");
	/* lossy: the any-position pins become CA identities */
	cv_opts o = opts("p", NULL);
	o.lossy = 1;
	cv_policy *p = import_ok(CV_CERTPIN,
	                         "{\"certpin\":1,\"domains\":[{\"host\":\"a.com\",\"pins\":[\"" PA
	                         "\"]}]}",
	                         &o);
	cv_log log = {0};
	certpin_error err;
	char *xml = export(CV_IOS_PLIST, p, &o, &log, &err);
	assert_non_null(xml);
	cv_policy *back = import_ok(CV_IOS_PLIST, xml, &o);
	assert_string_equal(rule(back, "a.com")->ca_pins.v[0], PA);
	free(xml);
	cv_log_free(&log);
	cv_policy_free(p);
	cv_policy_free(back);
}

/* ---- TrustKit --------------------------------------------------------------- */

static void trustkit_readme_config_imports(void **state)
{
	(void)state;
	cv_log log = {0};
	cv_policy *p = import_file(CV_TRUSTKIT, DATA "/trustkit.json", NULL, &log);
	assert_int_equal(p->n, 3);
	const cv_rule *r = rule(p, "www.datatheorem.com");
	assert_int_equal(r->mode, CERTPIN_MODE_REPORT);
	assert_true(r->has_expires);
	assert_int_equal(r->report_uris.n, 1);
	assert_int_equal(rule(p, "**.yahoo.com")->pins.n, 2);
	assert_true(rule(p, "login.yahoo.com")->exclude);
	assert_true(log_has(&log, CV_NOTE, "TSKSwizzleNetworkDelegates"));
	cv_log_free(&log);
	cv_policy_free(p);
}

static void trustkit_refuses_what_it_cannot_read(void **state)
{
	(void)state;
#define TK(body) "{\"TSKPinnedDomains\": {\"a.com\": {" body "}}}"
	refused(CV_TRUSTKIT, "{\n  \"TSKPinnedDomains\": {,}\n}", CERTPIN_E_JSON, 2, "");
	refused(CV_TRUSTKIT, "{\"kTSKPinnedDomains\": {}}", CERTPIN_E_SCHEMA, 0,
	        "unknown TrustKit key 'kTSKPinnedDomains'");
	refused(CV_TRUSTKIT, TK("\"TSKPublicKeyHashes\": [\"" A "\", \"abc\"]"), CERTPIN_E_PIN_SYNTAX,
	        0, "TSKPinnedDomains.a.com.TSKPublicKeyHashes[1]: must be the base64");
	refused(CV_TRUSTKIT, TK("\"TSKPublicKeyHashes\": [\"" A "\"], \"TSKEnforcePinning\": 1"),
	        CERTPIN_E_SCHEMA, 0, "TSKPinnedDomains.a.com.TSKEnforcePinning must be true or false");
	refused(CV_TRUSTKIT, TK("\"TSKPublicKeyHashes\": [\"" A "\"], \"TSKExpirationDate\": \"2027\""),
	        CERTPIN_E_TIME, 0, "TSKExpirationDate must be yyyy-MM-dd");
	refused(CV_TRUSTKIT, TK("\"TSKPublicKeyHashes\": [\"" A "\"], \"TSKPinning\": true"),
	        CERTPIN_E_SCHEMA, 0, "TSKPinnedDomains.a.com: unknown key 'TSKPinning'");
	/* TrustKit allows http:// report URIs; certpin sends reports over https only */
	refused(CV_TRUSTKIT,
	        TK("\"TSKPublicKeyHashes\": [\"" A "\"], \"TSKReportUris\": [\"http://r.a.com/\"]"),
	        CERTPIN_E_SCHEMA, 0, "rule for 'a.com': report_uris[0]: ");
	refused(CV_TRUSTKIT, TK("\"TSKExcludeSubdomainFromParentPolicy\": true, "
	                        "\"TSKPublicKeyHashes\": [\"" A "\"]"),
	        CERTPIN_E_SCHEMA, 0, "TSKExcludeSubdomainFromParentPolicy takes no pins");
}

static void trustkit_export_as_swift_and_its_losses(void **state)
{
	(void)state;
	cv_opts o = opts("p", NULL);
	cv_policy *p = import_ok(CV_CERTPIN,
	                         "{\"certpin\":1,\"domains\":[{\"host\":\"a.com\",\"include_subdomains\":"
	                         "true,\"pins\":[\"" PA "\",\"" PB "\"]}]}",
	                         &o);
	cv_log log = {0};
	certpin_error err;
	char *swift = export(CV_TRUSTKIT_SWIFT, p, &o, &log, &err);
	assert_non_null(swift);
	assert_non_null(strstr(swift, "let trustKitConfig: [String: Any] = [\n"
	                              "    kTSKPinnedDomains: [\n"
	                              "        \"a.com\": [\n"
	                              "            kTSKPublicKeyHashes: [\n"
	                              "                \"" A "\",\n"));
	assert_non_null(strstr(swift, "            kTSKIncludeSubdomains: true,\n"));
	free(swift);
	cv_log_free(&log);
	cv_policy_free(p);
	LOSSES(CV_TRUSTKIT,
	       "{\"certpin\":1,\"domains\":[{\"host\":\"a.com\",\"pins\":[\"" PA "\"]},"
	       "{\"host\":\"*.b.com\",\"ca_pins\":[\"" PA "\",\"" PB "\"]}]}",
	       NULL, "a.com: TrustKit refuses a domain with fewer than 2 pins",
	       "*.b.com: leaf_pins/ca_pins", "*.b.com: TrustKit has no one-label wildcard");
}

/* ---- OkHttp ----------------------------------------------------------------- */

static void okhttp_source_file_merges_union_into_specific_rules(void **state)
{
	(void)state;
	cv_log log = {0};
	cv_policy *p = import_file(CV_OKHTTP, DATA "/Pinning.kt", NULL, &log);
	/* publicobject.com from a constant; add("logging") is not a pinner call */
	assert_int_equal(rule(p, "publicobject.com")->pins.n, 2);
	assert_int_equal(rule(p, "*.example.com")->pins.n, 2);
	assert_int_equal(rule(p, "**.api.example.com")->pins.n, 1);
	/* static.example.com: its own pin plus those of *.example.com */
	assert_int_equal(rule(p, "static.example.com")->pins.n, 3);
	/* api.example.com: matched by *.example.com and **.api.example.com in OkHttp */
	const cv_rule *r = rule(p, "api.example.com");
	assert_int_equal(r->pins.n, 3);
	assert_true(cv_strs_has(&r->pins, PA) && cv_strs_has(&r->pins, PC));
	assert_true(log_has(&log, CV_NOTE, "api.example.com: added as a rule of its own"));
	assert_true(log_has(&log, CV_NOTE, "static.example.com: also gets the 2 pins of *.example.com"));
	assert_int_equal(p->n, 5);
	cv_log_free(&log);
	cv_policy_free(p);
}

static void okhttp_refuses_what_it_cannot_read(void **state)
{
	(void)state;
	refused(CV_OKHTTP, "val p = CertificatePinner.Builder()\n  .add(\"a.com\", \"sha1/"
	                   "BOGUSBOGUSBOGUSBOGUSBOGUSBOG=\")\n",
	        CERTPIN_E_PIN_ALGORITHM, 2, "sha1");
	refused(CV_OKHTTP, ".add(host, \"sha256/" A "\")", CERTPIN_E_SCHEMA, 1,
	        "add(host, ...): the host must be a string literal or a string constant");
	refused(CV_OKHTTP, ".add(\"$host\", \"sha256/" A "\")", CERTPIN_E_SCHEMA, 1,
	        "escape or template in a host or pin string");
	refused(CV_OKHTTP, ".add(\"a.com\", pin)", CERTPIN_E_SCHEMA, 1,
	        "add(\"a.com\", ...): pins must be string literals");
	refused(CV_OKHTTP, "// .add(\"a.com\", \"sha256/" A "\")\nval x = 1\n", CERTPIN_E_SCHEMA, 0,
	        "no CertificatePinner add(\"host\", \"sha256/...\") calls found");
	refused(CV_OKHTTP, ".add(\"a..com\", \"sha256/" A "\")", CERTPIN_E_HOST, 1,
	        "rule for 'a..com'");
}

static void okhttp_export_lists_union_and_unpinning_losses(void **state)
{
	(void)state;
	LOSSES(CV_OKHTTP,
	       "{\"certpin\":1,\"domains\":["
	       "{\"host\":\"**.example.com\",\"pins\":[\"" PA "\",\"" PB "\"]},"
	       "{\"host\":\"api.example.com\",\"pins\":[\"" PC "\",\"" PD "\"],"
	       "\"expires\":\"2027-06-01\"},"
	       "{\"host\":\"cdn.example.com\",\"exclude\":true}]}",
	       NULL,
	       "api.example.com: OkHttp applies every matching pattern, so it would also accept the "
	       "pins of **.example.com",
	       "api.example.com: expires: OkHttp pins do not expire",
	       "cdn.example.com: exclude: OkHttp cannot unpin");
}

/* ---- curl and HPKP -------------------------------------------------------------- */

static void curl_string_imports_as_leaf_pins(void **state)
{
	(void)state;
	cv_opts o = opts("in", NULL);
	o.host = "API.Example.com.";
	cv_policy *p = import_ok(CV_CURL, "  sha256//" A ";sha256//" B "\n", &o);
	const cv_rule *r = rule(p, "api.example.com");
	assert_int_equal(r->leaf_pins.n, 2);
	assert_int_equal(r->pins.n, 0);
	cv_policy_free(p);
	refused(CV_CURL, "sha256//" A ";sha1//" B, CERTPIN_E_PIN_SYNTAX, 1, "expected sha256//");
	refused(CV_CURL, "/etc/ssl/key.pem", CERTPIN_E_PIN_SYNTAX, 1,
	        "curl also takes a key file: pin it with `certpin pin FILE`");
	refused(CV_CURL, "sha256//abc", CERTPIN_E_PIN_SYNTAX, 1, "not the base64 of a 32-byte");
	refused(CV_CURL, "sha256//" A ";sha256//" A, CERTPIN_E_SCHEMA, 1, "duplicate pin");
	refused(CV_CURL, "   ", CERTPIN_E_SCHEMA, 1, "empty pin string");
	o.host = NULL;
	cv_log log = {0};
	certpin_error err;
	assert_null(import(CV_CURL, "sha256//" A, &o, &log, &err));
	assert_non_null(strstr(err.message, "name it with --host"));
}

static void curl_export_is_for_one_host_and_says_leaf_only(void **state)
{
	(void)state;
	cv_opts o = opts("p", NULL);
	o.host = "www.example.com";
	cv_policy *p = import_ok(CV_CERTPIN,
	                         "{\"certpin\":1,\"domains\":[{\"host\":\"**.example.com\",\"pins\":[\"" PA
	                         "\"],\"leaf_pins\":[\"" PB "\"]},{\"host\":\"other.com\",\"pins\":[\"" PC
	                         "\"]}]}",
	                         &o);
	cv_log log = {0};
	certpin_error err;
	char *s = export(CV_CURL, p, &o, &log, &err);
	assert_non_null(s);
	assert_string_equal(s, "sha256//" B ";sha256//" A "\n");
	assert_true(log_has(&log, CV_NOTE, "# curl compares pins with the leaf certificate's public "
	                                   "key only"));
	free(s);
	cv_log_free(&log);
	o.host = "nothing.org";
	assert_null(export(CV_CURL, p, &o, &log, &err));
	assert_non_null(strstr(err.message, "no pinning rule applies to nothing.org"));
	cv_log_free(&log);
	cv_policy_free(p);
	LOSSES(CV_CURL,
	       "{\"certpin\":1,\"domains\":[{\"host\":\"api.example.com\",\"leaf_pins\":[\"" PA
	       "\"],\"ca_pins\":[\"" PB "\"],\"expires\":\"2027-06-01\"}]}",
	       "api.example.com", "api.example.com: ca_pins: curl checks the leaf's key only",
	       "api.example.com: expires: curl pins do not expire");
}

static void hpkp_header_imports_with_max_age_from_now(void **state)
{
	(void)state;
	cv_opts o = opts("in", NULL);
	o.host = "example.com";
	cv_policy *p = import_ok(CV_HPKP,
	                         "Public-Key-Pins-Report-Only: pin-sha256=\"" A "\";\tPIN-SHA256=\"" B
	                         "\"; max-age=86400 ; includeSubDomains; "
	                         "report-uri=\"https://r.example.com/\"",
	                         &o);
	const cv_rule *r = rule(p, "**.example.com");
	assert_int_equal(r->pins.n, 2);
	assert_int_equal(r->expires, NOW + 86400);
	assert_int_equal(r->mode, CERTPIN_MODE_REPORT);
	assert_string_equal(r->report_uris.v[0], "https://r.example.com/");
	cv_policy_free(p);
	p = import_ok(CV_HPKP, "pin-sha256=\"" A "\"; max-age=10", &o);
	assert_int_equal(rule(p, "example.com")->mode, CERTPIN_MODE_ENFORCE);
	cv_policy_free(p);
	refused(CV_HPKP, "pin-sha256=\"" A "\"", CERTPIN_E_SCHEMA, 1, "no max-age directive");
	refused(CV_HPKP, "max-age=10", CERTPIN_E_SCHEMA, 1, "no pin-sha256 directive");
	refused(CV_HPKP, "pin-sha256=\"" A "\"; max-age=0", CERTPIN_E_SCHEMA, 1,
	        "max-age=0 tells clients to forget the pins");
	refused(CV_HPKP, "pin-sha256=\"" A "\"; max-age=1; max-age=2", CERTPIN_E_SCHEMA, 1,
	        "max-age given twice");
	refused(CV_HPKP, "pin-sha256=\"" A "\"; max-age=-1", CERTPIN_E_SCHEMA, 1,
	        "max-age must be a number of seconds");
	refused(CV_HPKP, "pin-sha1=\"" A "\"; max-age=1", CERTPIN_E_SCHEMA, 1,
	        "unknown directive 'pin-sha1'");
	refused(CV_HPKP, "pin-sha256=\"abc\"; max-age=1", CERTPIN_E_PIN_SYNTAX, 1,
	        "pin-sha256: not the base64");
	refused(CV_HPKP, "pin-sha256=\"" A "\"; max-age=1; report-uri=\"http://r.example.com/\"",
	        CERTPIN_E_SCHEMA, 1, "rule for 'api.example.com': report_uris[0]");
}

static void hpkp_export_counts_max_age_from_now(void **state)
{
	(void)state;
	cv_opts o = opts("p", NULL);
	o.host = "api.example.com";
	cv_policy *p = import_ok(CV_CERTPIN,
	                         "{\"certpin\":1,\"domains\":[{\"host\":\"api.example.com\",\"pins\":[\"" PA
	                         "\",\"" PB "\"],\"expires\":\"2027-01-01\"}]}",
	                         &o);
	cv_log log = {0};
	certpin_error err;
	char *s = export(CV_HPKP, p, &o, &log, &err);
	assert_non_null(s);
	assert_string_equal(s, "Public-Key-Pins: pin-sha256=\"" A "\"; pin-sha256=\"" B
	                       "\"; max-age=86400\n");
	free(s);
	o.now = NOW + 86400;
	assert_null(export(CV_HPKP, p, &o, &log, &err));
	assert_non_null(strstr(err.message, "the pin set has expired"));
	cv_log_free(&log);
	cv_policy_free(p);
	LOSSES(CV_HPKP,
	       "{\"certpin\":1,\"domains\":[{\"host\":\"api.example.com\",\"pins\":[\"" PA "\",\"" PB
	       "\"],\"report_uris\":[\"https://a.example.com/\",\"https://b.example.com/\"]}]}",
	       "api.example.com", "api.example.com: no expires: HPKP needs max-age",
	       "api.example.com: HPKP takes one report-uri");
}

/* ---- certpin JSON ------------------------------------------------------------------ */

static void certpin_import_reports_loader_errors_with_position(void **state)
{
	(void)state;
	refused(CV_CERTPIN, "{\"certpin\":1,\n\"domains\":[{\"host\":\"a.com\",\"pins\":[\"sha1/x\"]}]}",
	        CERTPIN_E_PIN_ALGORITHM, 2, "");
	refused(CV_CERTPIN, "{\"certpin\":1,\"domains\":[{\"host\":\"a.com\",\"pinz\":[]}]}",
	        CERTPIN_E_SCHEMA, 1, "");
}

static void formats_have_names(void **state)
{
	(void)state;
	for (int f = 0; f < CV_FORMAT_COUNT; f++)
		assert_int_equal(cv_format_from_name(cv_format_name((cv_format)f)), f);
	assert_int_equal(cv_format_from_name("android"), -1);
	assert_false(cv_format_can_import(CV_TRUSTKIT_SWIFT));
	assert_true(cv_format_can_import(CV_HPKP));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(formats_have_names),
	    cmocka_unit_test(certpin_round_trip_keeps_every_field),
	    cmocka_unit_test(certpin_import_reports_loader_errors_with_position),
	    cmocka_unit_test(android_round_trip),
	    cmocka_unit_test(ios_round_trip),
	    cmocka_unit_test(trustkit_round_trip),
	    cmocka_unit_test(okhttp_round_trip),
	    cmocka_unit_test(curl_round_trip),
	    cmocka_unit_test(hpkp_round_trip),
	    cmocka_unit_test(android_documented_file_imports_nested_configs),
	    cmocka_unit_test(android_domain_config_without_pin_set_is_an_exclude_rule),
	    cmocka_unit_test(android_refuses_doctype_xxe_and_entity_expansion),
	    cmocka_unit_test(android_refuses_what_it_cannot_read),
	    cmocka_unit_test(android_override_pins_is_a_loss_on_import),
	    cmocka_unit_test(android_export_lists_what_android_cannot_express),
	    cmocka_unit_test(ios_info_plist_keeps_only_the_pinning_part),
	    cmocka_unit_test(ios_binary_plist_reads_like_xml),
	    cmocka_unit_test(ios_refuses_what_it_cannot_read),
	    cmocka_unit_test(ios_export_lists_what_ios_cannot_express),
	    cmocka_unit_test(trustkit_readme_config_imports),
	    cmocka_unit_test(trustkit_refuses_what_it_cannot_read),
	    cmocka_unit_test(trustkit_export_as_swift_and_its_losses),
	    cmocka_unit_test(okhttp_source_file_merges_union_into_specific_rules),
	    cmocka_unit_test(okhttp_refuses_what_it_cannot_read),
	    cmocka_unit_test(okhttp_export_lists_union_and_unpinning_losses),
	    cmocka_unit_test(curl_string_imports_as_leaf_pins),
	    cmocka_unit_test(curl_export_is_for_one_host_and_says_leaf_only),
	    cmocka_unit_test(hpkp_header_imports_with_max_age_from_now),
	    cmocka_unit_test(hpkp_export_counts_max_age_from_now),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
