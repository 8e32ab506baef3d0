/*
 * certpin lint: load a policy and report its errors and risky rules.
 */
#include <getopt.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "certpin/certpin.h"
#include "certpin/certpin_openssl.h"
#include "cli.h"

static void lint_usage(FILE *f)
{
	fprintf(f,
	        "usage: certpin lint [--json] [--strict] [--warn-days N] [--at TIME] [--host HOST]...\n"
	        "                    [--chain CHAIN.pem | --connect ADDR:PORT] [--cafile CA] POLICY\n"
	        "       certpin lint --against NEW_CHAIN.pem --host HOST [--cafile CA] [--at TIME]\n"
	        "                    POLICY...\n"
	        "\n"
	        "Reports errors (anything the loader refuses) and warnings: an enforced rule\n"
	        "with fewer than 2 pins (no backup pin), no \"expires\", pins that only a root\n"
	        "CA certificate matches. Always: an expired pin set is an error, one expiring\n"
	        "within --warn-days a warning.\n"
	        "CA certificate matches. Rules in report-only mode (\"mode\": \"report\") are\n"
	        "listed: a mismatch there is allowed and only reported.\n"
	        "\n"
	        "  --chain FILE     the current chain (leaf first), validated with --cafile or\n"
	        "                   the system store: a rule none of whose pins match it is an\n"
	        "                   error (it would block today); a rule all of whose pins\n"
	        "                   match it is a warning (no backup pin: a key rotation\n"
	        "                   bricks clients); pins only of its root: root-only warning\n"
	        "  --connect A:P    the same with the chain a TLS handshake to A:P validates\n"
	        "                   for the first --host (SNI and name checks)\n"
	        "  --host HOST      check the rule that applies to HOST (repeatable); with\n"
	        "                   \"unlisted_hosts\": \"deny\", a HOST without a rule is an error\n"
	        "  --cafile FILE    trust anchors (replaces the system trust store)\n"
	        "  --at TIME        the clock (RFC 3339 or YYYY-MM-DD); default now\n"
	        "  --warn-days N    expiry warning horizon in days (default 30)\n"
	        "  --strict         treat warnings as errors\n"
	        "  --json           findings as JSON on stdout\n"
	        "  --against FILE   rotation check: for each POLICY, would clients accept the\n"
	        "                   chain in FILE for --host? One line per policy file.\n"
	        "\n"
	        "exit: 0 clean or warnings only (--against: every policy accepts), 1 errors\n"
	        "      (--against: some policy would block), 4 unreadable, 64 usage\n");
}

typedef struct finding {
	const char *severity; /* "error" or "warning" */
	const char *kind;     /* warning name, or "error" */
	certpin_error where;
} finding;

typedef struct findings {
	finding *v;
	size_t n, cap;
} findings;

static int add_finding(findings *fs, const char *severity, const char *kind, const certpin_error *e)
{
	if (fs->n == fs->cap) {
		size_t ncap = fs->cap ? fs->cap * 2 : 16;
		finding *nv = realloc(fs->v, ncap * sizeof *nv);
		if (nv == NULL)
			return -1;
		fs->v = nv;
		fs->cap = ncap;
	}
	fs->v[fs->n].severity = severity;
	fs->v[fs->n].kind = kind;
	fs->v[fs->n].where = *e;
	fs->n++;
	return 0;
}

/* One certificate of the current chain (leaf first). */
typedef struct cur_cert {
	certpin_pin spki, cert;
	int is_ca, self_signed;
} cur_cert;

typedef struct cur_chain {
	cur_cert v[CERTPIN_MAX_CHAIN];
	size_t n;
	const char *source; /* file name or "ADDR:PORT" for messages */
} cur_chain;

static int chain_add(cur_chain *c, X509 *x)
{
	if (c->n == CERTPIN_MAX_CHAIN)
		return 0; /* longer chains: the first 16 are enough for matching */
	unsigned char *der = NULL;
	int len = i2d_X509(x, &der);
	if (len <= 0)
		return -1;
	cur_cert *cc = &c->v[c->n];
	memset(cc, 0, sizeof *cc);
	int rc = certpin_pin_spki_from_cert_der(der, (size_t)len, &cc->spki) == CERTPIN_OK &&
	                 certpin_pin_cert_from_cert_der(der, (size_t)len, &cc->cert) == CERTPIN_OK
	             ? 0
	             : -1;
	OPENSSL_free(der);
	cc->is_ca = X509_check_ca(x) > 0;
	cc->self_signed = X509_check_issued(x, x) == X509_V_OK;
	if (rc == 0)
		c->n++;
	return rc;
}

static int chain_add_stack(cur_chain *c, STACK_OF(X509) *sk)
{
	for (int i = 0; i < sk_X509_num(sk); i++)
		if (chain_add(c, sk_X509_value(sk, i)) != 0)
			return -1;
	return 0;
}

static int pin_in_chain(const certpin_pin *pin, const cur_chain *c, size_t from, size_t to)
{
	for (size_t i = from; i < to && i < c->n; i++)
		if (certpin_pin_equal(pin, &c->v[i].spki) || certpin_pin_equal(pin, &c->v[i].cert))
			return 1;
	return 0;
}

static void finding_at(findings *fs, int *oom, const char *severity, const char *kind,
                       const char *policy_path, size_t rule, const char *fmt, ...)
	__attribute__((format(printf, 7, 8)));
static void finding_at(findings *fs, int *oom, const char *severity, const char *kind,
                       const char *policy_path, size_t rule, const char *fmt, ...)
{
	certpin_error w;
	memset(&w, 0, sizeof w);
	snprintf(w.file, sizeof w.file, "%s", policy_path);
	if (rule != (size_t)-1)
		snprintf(w.path, sizeof w.path, "$.domains[%zu]", rule);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(w.message, sizeof w.message, fmt, ap);
	va_end(ap);
	if (add_finding(fs, severity, kind, &w) != 0)
		*oom = 1;
}

static size_t rule_index(const certpin_policy *p, const certpin_rule *r)
{
	for (size_t i = 0; i < certpin_policy_rule_count(p); i++)
		if (certpin_policy_rule(p, i) == r)
			return i;
	return (size_t)-1;
}

/*
 * Rotation checks of one rule against the current chain, with the matching
 * rules of evaluation: every non-empty list among pins (any certificate),
 * leaf_pins (the leaf) and ca_pins (a certificate above the leaf) must match.
 */
static void check_rotation(const certpin_policy *p, const char *path, const certpin_rule *rule,
                           const cur_chain *c, findings *fs, int *oom)
{
	size_t ri = rule_index(p, rule);
	const char *host = certpin_rule_host(rule);
	static const certpin_pin_scope scopes[] = {CERTPIN_SCOPE_ANY, CERTPIN_SCOPE_LEAF,
	                                           CERTPIN_SCOPE_CA};
	int ok = 1, all_in_chain = 1, root_hits = 0, other_hits = 0;
	for (size_t s = 0; s < 3; s++) {
		size_t n = certpin_rule_pin_count(rule, scopes[s]);
		size_t from = scopes[s] == CERTPIN_SCOPE_CA ? 1 : 0;
		size_t to = scopes[s] == CERTPIN_SCOPE_LEAF ? 1 : c->n;
		int any = 0;
		for (size_t i = 0; i < n; i++) {
			const certpin_pin *pin = certpin_rule_pin(rule, scopes[s], i);
			if (pin_in_chain(pin, c, from, to))
				any = 1;
			if (!pin_in_chain(pin, c, 0, c->n))
				all_in_chain = 0;
			for (size_t k = 0; k < c->n; k++) {
				if (!certpin_pin_equal(pin, &c->v[k].spki) &&
				    !certpin_pin_equal(pin, &c->v[k].cert))
					continue;
				if (c->v[k].is_ca && c->v[k].self_signed)
					root_hits++;
				else
					other_hits++;
			}
		}
		if (n != 0 && !any)
			ok = 0;
	}
	if (!ok) {
		int report = certpin_rule_mode(rule) == CERTPIN_MODE_REPORT;
		finding_at(fs, oom, report ? "warning" : "error", report ? "would-report" : "would-block",
		           path, ri,
		           "rule %s: no pin matches the current chain (%s): clients %s it today", host,
		           c->source, report ? "report (mode \"report\")" : "would block");
		return;
	}
	if (all_in_chain)
		finding_at(fs, oom, "warning", "no-backup", path, ri,
		           "rule %s: every pin matches the current chain (%s): no backup pin, so a key "
		           "rotation bricks clients; add the pin of a key kept in reserve",
		           host, c->source);
	if (root_hits > 0 && other_hits == 0)
		finding_at(fs, oom, "warning", certpin_warning_name(CERTPIN_W_ROOT_ONLY), path, ri,
		           "rule %s: of the chain in %s only the root CA matches its pins: any "
		           "certificate that CA issues will pass",
		           host, c->source);
}

/* The chain of --chain FILE, validated if it can be (else checked as given). */
static int chain_from_file(const char *file, const char *cafile, int64_t now, cur_chain *c,
                           const char *policy_path, findings *fs, int *oom)
{
	X509 *leaf = NULL;
	STACK_OF(X509) *rest = NULL;
	if (cli_load_chain(file, &leaf, &rest) != 0)
		return -1;
	int rc = -1;
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *vctx = X509_STORE_CTX_new();
	if (store == NULL || vctx == NULL)
		goto out;
	if (cafile != NULL ? X509_STORE_load_file(store, cafile) != 1
	                   : X509_STORE_set_default_paths(store) != 1) {
		cli_error("%s: cannot load CA certificates", cafile ? cafile : "system trust store");
		goto out;
	}
	if (X509_STORE_CTX_init(vctx, store, leaf, rest) != 1)
		goto out;
	X509_VERIFY_PARAM *param = X509_STORE_CTX_get0_param(vctx);
	X509_VERIFY_PARAM_set_purpose(param, X509_PURPOSE_SSL_SERVER);
	if (now != CERTPIN_TIME_NOW)
		X509_VERIFY_PARAM_set_time(param, (time_t)now);
	c->source = file;
	if (X509_verify_cert(vctx) == 1) {
		rc = chain_add_stack(c, X509_STORE_CTX_get0_chain(vctx));
	} else {
		finding_at(fs, oom, "warning", "chain-not-validated", policy_path, (size_t)-1,
		           "the chain in %s does not validate (%s%s): checked as given", file,
		           X509_verify_cert_error_string(X509_STORE_CTX_get_error(vctx)),
		           cafile ? "" : "; pass its CA with --cafile");
		rc = chain_add(c, leaf) != 0 ? -1 : chain_add_stack(c, rest);
	}
out:
	X509_STORE_CTX_free(vctx);
	X509_STORE_free(store);
	X509_free(leaf);
	sk_X509_pop_free(rest, X509_free);
	return rc;
}

/* The chain a handshake to --connect validates for host. -1: printed error. */
static int chain_from_connect(const char *host, const char *connect_to, const char *cafile,
                              int64_t now, cur_chain *c, char *source, size_t sn,
                              const char *policy_path, findings *fs, int *oom)
{
	struct cli_target tg;
	if (cli_target_parse("lint", host, connect_to, &tg) != 0)
		return -1;
	snprintf(source, sn, "%s:%s", tg.addr, tg.aport);
	c->source = source;
	int rc = -1, fd = -1;
	char why[512];
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL *ssl = NULL;
	if (ctx == NULL || cli_load_trust(ctx, "lint", cafile) != 0)
		goto out;
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	if ((ssl = SSL_new(ctx)) == NULL)
		goto out;
	X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
	X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS |
	                                           X509_CHECK_FLAG_NEVER_CHECK_SUBJECT);
	X509_VERIFY_PARAM_set_purpose(param, X509_PURPOSE_SSL_SERVER);
	if (now != CERTPIN_TIME_NOW)
		X509_VERIFY_PARAM_set_time(param, (time_t)now);
	if (tg.is_ip ? X509_VERIFY_PARAM_set1_ip_asc(param, tg.name) != 1
	             : (SSL_set1_host(ssl, tg.name) != 1 ||
	                SSL_set_tlsext_host_name(ssl, tg.name) != 1))
		goto out;
	struct timespec deadline;
	cli_deadline(&deadline, 10);
	fd = cli_connect(tg.addr, tg.aport, &deadline, why, sizeof why);
	if (fd < 0) {
		cli_error("lint: %s", why);
		goto out;
	}
	SSL_set_fd(ssl, fd);
	int hs = cli_handshake(ssl, &deadline);
	if (hs != 0) {
		if (hs == -2)
			snprintf(why, sizeof why, "TLS handshake timed out");
		else
			cli_openssl_error(why, sizeof why);
		cli_error("lint: %s: %s", source, why);
		goto out;
	}
	long vr = SSL_get_verify_result(ssl);
	if (vr != X509_V_OK) {
		finding_at(fs, oom, "error", "chain-invalid", policy_path, (size_t)-1,
		           "%s does not present a valid chain for %s (%s): clients block it today",
		           source, tg.name, X509_verify_cert_error_string(vr));
		rc = 1; /* no chain to check rules against */
		goto out;
	}
	rc = chain_add_stack(c, SSL_get0_verified_chain(ssl));
out:
	SSL_free(ssl);
	if (fd >= 0)
		close(fd);
	SSL_CTX_free(ctx);
	return rc;
}

/* Expired pin sets (error) and those expiring within warn_days (warning). */
static void check_expiry(const certpin_policy *p, const char *path, int64_t now, long warn_days,
                         findings *fs, int *oom)
{
	for (size_t i = 0; i < certpin_policy_rule_count(p); i++) {
		const certpin_rule *r = certpin_policy_rule(p, i);
		int64_t exp;
		if (certpin_rule_is_exclude(r) || !certpin_rule_expires(r, &exp))
			continue;
		char t[32];
		certpin_time_format(exp, t, sizeof t);
		const char *after = certpin_rule_on_expiry(r) == CERTPIN_ON_EXPIRY_BLOCK
		                            ? "clients now block the host"
		                            : "clients no longer pin the host";
		if (now >= exp)
			finding_at(fs, oom, "error", "expired", path, i,
			           "rule %s: the pin set expired at %s: %s", certpin_rule_host(r), t, after);
		else if (exp - now < (int64_t)warn_days * 86400)
			finding_at(fs, oom, "warning", "expires-soon", path, i,
			           "rule %s: the pin set expires at %s, in %lld day%s", certpin_rule_host(r),
			           t, (long long)((exp - now) / 86400),
			           (exp - now) / 86400 == 1 ? "" : "s");
	}
}

/*
 * --against: for each deployed policy file, would clients accept the chain
 * for host? One line per file.
 */
static int lint_against(int n, char **files, const char *chain, const char *host,
                        const char *cafile, int64_t now)
{
	X509 *leaf = NULL;
	STACK_OF(X509) *rest = NULL;
	if (cli_load_chain(chain, &leaf, &rest) != 0)
		return EXIT_INPUT;
	X509_STORE *store = X509_STORE_new();
	int ret = EXIT_INPUT;
	if (store == NULL)
		goto out;
	if (cafile != NULL ? X509_STORE_load_file(store, cafile) != 1
	                   : X509_STORE_set_default_paths(store) != 1) {
		cli_error("%s: cannot load CA certificates", cafile ? cafile : "system trust store");
		goto out;
	}
	int blocked = 0, unreadable = 0;
	for (int i = 0; i < n; i++) {
		certpin_policy *p = NULL;
		certpin_error err;
		char line[1024];
		if (certpin_policy_load_file(files[i], 0, &p, NULL, &err) != CERTPIN_OK) {
			certpin_error_format(&err, line, sizeof line);
			printf("%s: UNREADABLE: %s\n", files[i], line);
			unreadable = 1;
			continue;
		}
		certpin_verdict *v = NULL;
		if (certpin_openssl_verify(p, host, leaf, rest, store, now, &v) != CERTPIN_OK &&
		    v == NULL) {
			cli_error("out of memory");
			certpin_policy_free(p);
			goto out;
		}
		certpin_verdict_code code = certpin_verdict_get_code(v);
		const certpin_rule *r = certpin_verdict_rule(v);
		int allowed = certpin_verdict_code_allowed(code);
		printf("%s: %s %s: %s", files[i], host, allowed ? "accepted" : "BLOCKED",
		       certpin_verdict_code_name(code));
		if (r != NULL)
			printf(" (rule %s)", certpin_rule_host(r));
		if (certpin_verdict_reason(v)[0] != '\0')
			printf(": %s", certpin_verdict_reason(v));
		printf("\n");
		blocked |= !allowed;
		certpin_verdict_free(v);
		certpin_policy_free(p);
	}
	ret = unreadable ? EXIT_INPUT : blocked ? EXIT_BLOCKED : 0;
out:
	X509_STORE_free(store);
	X509_free(leaf);
	sk_X509_pop_free(rest, X509_free);
	return ret;
}

/* Rules with "mode": "report": allowed on a mismatch, reported. */
static void print_report_only(const certpin_policy *p)
{
	for (size_t r = 0; p != NULL && r < certpin_policy_rule_count(p); r++) {
		const certpin_rule *rule = certpin_policy_rule(p, r);
		if (certpin_rule_is_exclude(rule) || certpin_rule_mode(rule) != CERTPIN_MODE_REPORT)
			continue;
		size_t n = certpin_rule_report_uri_count(rule);
		printf("report-only: %s ($.domains[%zu]): a pin mismatch is allowed and reported",
		       certpin_rule_host(rule), r);
		if (n > 0)
			printf(" to %zu URI%s\n", n, n == 1 ? "" : "s");
		else
			printf(" (no report_uris: only to the application's reporter)\n");
	}
}

static void print_text(const findings *fs, size_t errors, size_t warnings)
{
	char line[1024];
	for (size_t i = 0; i < fs->n; i++) {
		const finding *f = &fs->v[i];
		const certpin_error *e = &f->where;
		char pos[64] = "";
		if (e->line)
			snprintf(pos, sizeof pos, "%u:%u:", e->line, e->column);
		snprintf(line, sizeof line, "%s%s%s %s: %s%s%s", e->file, e->file[0] ? ":" : "", pos,
		         f->severity, e->path, e->path[0] ? ": " : "",
		         e->message[0] ? e->message : certpin_strerror(e->code));
		if (strcmp(f->severity, "warning") == 0)
			printf("%s [%s]\n", line, f->kind);
		else
			printf("%s\n", line);
	}
	printf("%zu error%s, %zu warning%s\n", errors, errors == 1 ? "" : "s", warnings,
	       warnings == 1 ? "" : "s");
}

static void print_json(const char *path, const certpin_policy *p, const findings *fs,
                       size_t errors, size_t warnings)
{
	printf("{\"file\":");
	cli_json_string(stdout, path);
	printf(",\"report_only\":[");
	int first = 1;
	for (size_t r = 0; p != NULL && r < certpin_policy_rule_count(p); r++) {
		const certpin_rule *rule = certpin_policy_rule(p, r);
		if (certpin_rule_is_exclude(rule) || certpin_rule_mode(rule) != CERTPIN_MODE_REPORT)
			continue;
		printf("%s{\"rule\":", first ? "" : ",");
		cli_json_string(stdout, certpin_rule_host(rule));
		printf(",\"path\":\"$.domains[%zu]\",\"report_uris\":%zu}", r,
		       certpin_rule_report_uri_count(rule));
		first = 0;
	}
	printf("],\"errors\":%zu,\"warnings\":%zu,\"findings\":[", errors, warnings);
	for (size_t i = 0; i < fs->n; i++) {
		const certpin_error *e = &fs->v[i].where;
		printf("%s{\"severity\":\"%s\",\"kind\":\"%s\",\"line\":%u,\"column\":%u,\"path\":",
		       i ? "," : "", fs->v[i].severity, fs->v[i].kind, e->line, e->column);
		cli_json_string(stdout, e->path);
		printf(",\"message\":");
		cli_json_string(stdout, e->message[0] ? e->message : certpin_strerror(e->code));
		printf("}");
	}
	printf("]}\n");
}

#define LINT_MAX_HOSTS 16

int cmd_lint(int argc, char **argv)
{
	static const struct option opts[] = {
		{"json", no_argument, NULL, 'j'},          {"strict", no_argument, NULL, 's'},
		{"chain", required_argument, NULL, 'c'},  {"connect", required_argument, NULL, 'C'},
		{"host", required_argument, NULL, 'H'},   {"cafile", required_argument, NULL, 'A'},
		{"at", required_argument, NULL, 't'},     {"warn-days", required_argument, NULL, 'w'},
		{"against", required_argument, NULL, 'g'}, {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int json = 0, strict = 0, c;
	const char *chain = NULL, *connect_to = NULL, *cafile = NULL, *at = NULL, *against = NULL;
	const char *hosts[LINT_MAX_HOSTS];
	size_t n_hosts = 0;
	long warn_days = 30;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = 1;
			break;
		case 's':
			strict = 1;
			break;
		case 'c':
			chain = optarg;
			break;
		case 'C':
			connect_to = optarg;
			break;
		case 'A':
			cafile = optarg;
			break;
		case 't':
			at = optarg;
			break;
		case 'g':
			against = optarg;
			break;
		case 'H':
			if (n_hosts == LINT_MAX_HOSTS) {
				cli_error("lint: at most %d --host options", LINT_MAX_HOSTS);
				return EXIT_USAGE;
			}
			hosts[n_hosts++] = optarg;
			break;
		case 'w': {
			char *end = NULL;
			warn_days = strtol(optarg, &end, 10);
			if (end == optarg || *end != '\0' || warn_days < 0 || warn_days > 3650) {
				cli_error("lint: --warn-days must be 0..3650");
				return EXIT_USAGE;
			}
			break;
		}
		case 'h':
			lint_usage(stdout);
			return 0;
		default:
			cli_error("lint: unknown or incomplete option '%s' (see 'certpin lint --help')",
			          argv[optind - 1]);
			return EXIT_USAGE;
		}
	}
	int64_t now = CERTPIN_TIME_NOW;
	if (at != NULL) {
		certpin_error terr;
		if (certpin_time_parse(at, CERTPIN_TIME_DATE_START, &now, &terr) != CERTPIN_OK) {
			cli_error("lint: --at '%s': %s", at, terr.message);
			return EXIT_USAGE;
		}
	}
	for (size_t i = 0; i < n_hosts; i++) {
		char norm[CERTPIN_HOST_MAX + 1];
		certpin_error herr;
		if (certpin_host_normalize(hosts[i], norm, sizeof norm, &herr) != CERTPIN_OK) {
			cli_error("lint: --host %s: %s", hosts[i], herr.message);
			return EXIT_USAGE;
		}
	}
	if (against != NULL) {
		if (n_hosts != 1 || optind >= argc || chain != NULL || connect_to != NULL) {
			cli_error("lint: --against needs one --host and at least one POLICY (see "
			          "'certpin lint --help')");
			return EXIT_USAGE;
		}
		return lint_against(argc - optind, argv + optind, against, hosts[0], cafile, now);
	}
	if (optind != argc - 1) {
		cli_error("lint: needs exactly one POLICY file (see 'certpin lint --help')");
		return EXIT_USAGE;
	}
	if (chain != NULL && connect_to != NULL) {
		cli_error("lint: --chain and --connect are alternatives");
		return EXIT_USAGE;
	}
	if (connect_to != NULL && n_hosts == 0) {
		cli_error("lint: --connect needs --host (the name the server is checked for)");
		return EXIT_USAGE;
	}
	const char *path = argv[optind];
	int64_t clock = now != CERTPIN_TIME_NOW ? now : (int64_t)time(NULL);

	certpin_policy *p = NULL;
	certpin_warnings *w = NULL;
	certpin_error err;
	findings fs = {0};
	int ret = 0, oom = 0;
	certpin_err rc = certpin_policy_load_file(path, 0, &p, &w, &err);
	if (rc != CERTPIN_OK) {
		/* The file itself could not be read: that is not a finding. */
		if ((rc == CERTPIN_E_IO || rc == CERTPIN_E_TOO_LARGE) && err.line == 0 &&
		    err.path[0] == '\0') {
			char line[1024];
			certpin_error_format(&err, line, sizeof line);
			cli_error("%s", line);
			return EXIT_INPUT;
		}
		if (add_finding(&fs, "error", "error", &err) != 0)
			ret = EXIT_INPUT;
	} else {
		for (size_t i = 0; i < certpin_warnings_count(w); i++) {
			certpin_warning_kind kind = 0;
			const certpin_error *e = certpin_warnings_get(w, i, &kind);
			if (add_finding(&fs, strict ? "error" : "warning", certpin_warning_name(kind),
			                e) != 0)
				ret = EXIT_INPUT;
		}
		check_expiry(p, path, clock, warn_days, &fs, &oom);
		for (size_t i = 0; i < n_hosts; i++)
			if (certpin_policy_lookup(p, hosts[i]) == NULL &&
			    certpin_policy_unlisted(p) == CERTPIN_UNLISTED_DENY)
				finding_at(&fs, &oom, "error", "unlisted-deny", path, (size_t)-1,
				           "%s has no rule and \"unlisted_hosts\" is \"deny\": clients block "
				           "it",
				           hosts[i]);
		if (chain != NULL || connect_to != NULL) {
			static cur_chain cur;
			char source[400];
			memset(&cur, 0, sizeof cur);
			int got = chain != NULL
			                  ? chain_from_file(chain, cafile, now, &cur, path, &fs, &oom)
			                  : chain_from_connect(hosts[0], connect_to, cafile, now, &cur,
			                                       source, sizeof source, path, &fs, &oom);
			if (got < 0) {
				ret = EXIT_INPUT;
			} else if (got == 0 && n_hosts == 0) {
				for (size_t i = 0; i < certpin_policy_rule_count(p); i++) {
					const certpin_rule *r = certpin_policy_rule(p, i);
					if (!certpin_rule_is_exclude(r))
						check_rotation(p, path, r, &cur, &fs, &oom);
				}
			} else if (got == 0) {
				const certpin_rule *done[LINT_MAX_HOSTS];
				size_t n_done = 0;
				for (size_t i = 0; i < n_hosts; i++) {
					const certpin_rule *r = certpin_policy_lookup(p, hosts[i]);
					int seen = 0;
					for (size_t k = 0; k < n_done; k++)
						seen |= done[k] == r;
					if (r == NULL || seen || certpin_rule_is_exclude(r))
						continue;
					done[n_done++] = r;
					check_rotation(p, path, r, &cur, &fs, &oom);
				}
			}
		}
	}
	if (oom)
		ret = EXIT_INPUT;
	if (ret == 0) {
		size_t errors = 0, warnings = 0;
		for (size_t i = 0; i < fs.n; i++) {
			if (strict && strcmp(fs.v[i].severity, "warning") == 0)
				fs.v[i].severity = "error";
			if (strcmp(fs.v[i].severity, "error") == 0)
				errors++;
			else
				warnings++;
		}
		if (json) {
			print_json(path, p, &fs, errors, warnings);
		} else {
			print_report_only(p);
			print_text(&fs, errors, warnings);
		}
		ret = errors ? EXIT_BLOCKED : 0;
	}
	free(fs.v);
	certpin_warnings_free(w);
	certpin_policy_free(p);
	return ret;
}
