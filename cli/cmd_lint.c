/*
 * certpin lint: load a policy and report its errors and risky rules.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certpin/certpin.h"
#include "cli.h"

static void lint_usage(FILE *f)
{
	fprintf(f,
	        "usage: certpin lint [--json] [--strict] [--chain CHAIN.pem] POLICY\n"
	        "\n"
	        "Reports errors (anything the loader refuses) and warnings: an enforced rule\n"
	        "with fewer than 2 pins (no backup pin), no \"expires\", pins that only a root\n"
	        "CA certificate matches. Rules in report-only mode (\"mode\": \"report\") are\n"
	        "listed: a mismatch there is allowed and only reported.\n"
	        "\n"
	        "  --chain FILE  a current chain (leaf first): rules whose pins match only its\n"
	        "                self-signed root get a root-only warning\n"
	        "  --strict      treat warnings as errors\n"
	        "  --json        findings as JSON on stdout\n"
	        "\n"
	        "exit: 0 clean or warnings only, 1 errors, 4 unreadable, 64 usage\n");
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

/*
 * With a known chain: a rule whose pins match certificates of the chain only
 * at a self-signed CA (a root) gets a root-only warning.
 */
static int chain_root_only(const certpin_policy *p, const char *policy_path, const char *chain_path,
                           findings *fs)
{
	certpin_object_list *objs = NULL;
	certpin_error err;
	char line[1024];
	if (certpin_objects_from_file(chain_path, NULL, &objs, &err) != CERTPIN_OK) {
		certpin_error_format(&err, line, sizeof line);
		cli_error("%s", line);
		return -1;
	}
	static const certpin_pin_scope scopes[] = {CERTPIN_SCOPE_ANY, CERTPIN_SCOPE_LEAF,
	                                           CERTPIN_SCOPE_CA};
	for (size_t r = 0; r < certpin_policy_rule_count(p); r++) {
		const certpin_rule *rule = certpin_policy_rule(p, r);
		if (certpin_rule_is_exclude(rule))
			continue;
		int root_hits = 0, other_hits = 0;
		for (size_t s = 0; s < sizeof scopes / sizeof scopes[0]; s++) {
			for (size_t i = 0; i < certpin_rule_pin_count(rule, scopes[s]); i++) {
				const certpin_pin *pin = certpin_rule_pin(rule, scopes[s], i);
				for (size_t k = 0; k < certpin_object_list_count(objs); k++) {
					const certpin_object *o = certpin_object_list_get(objs, k);
					if (o->kind != CERTPIN_OBJ_CERT)
						continue;
					if (!certpin_pin_equal(pin, &o->spki_pin) &&
					    !certpin_pin_equal(pin, &o->cert_pin))
						continue;
					if (o->is_ca && o->self_signed)
						root_hits++;
					else
						other_hits++;
				}
			}
		}
		if (root_hits > 0 && other_hits == 0) {
			certpin_error w;
			memset(&w, 0, sizeof w);
			snprintf(w.file, sizeof w.file, "%s", policy_path);
			snprintf(w.path, sizeof w.path, "$.domains[%zu]", r);
			snprintf(w.message, sizeof w.message,
			         "rule %s: of the chain in %s only the root CA matches its pins: any "
			         "certificate that CA issues will pass",
			         certpin_rule_host(rule), chain_path);
			if (add_finding(fs, "warning", certpin_warning_name(CERTPIN_W_ROOT_ONLY), &w) != 0)
				return -1;
		}
	}
	certpin_object_list_free(objs);
	return 0;
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

int cmd_lint(int argc, char **argv)
{
	static const struct option opts[] = {
		{"json", no_argument, NULL, 'j'},         {"strict", no_argument, NULL, 's'},
		{"chain", required_argument, NULL, 'c'}, {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int json = 0, strict = 0, c;
	const char *chain = NULL;
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
		case 'h':
			lint_usage(stdout);
			return 0;
		default:
			cli_error("lint: unknown or incomplete option '%s' (see 'certpin lint --help')",
			          argv[optind - 1]);
			return EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		cli_error("lint: needs exactly one POLICY file (see 'certpin lint --help')");
		return EXIT_USAGE;
	}
	const char *path = argv[optind];

	certpin_policy *p = NULL;
	certpin_warnings *w = NULL;
	certpin_error err;
	findings fs = {0};
	int ret = 0;
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
		if (chain != NULL && chain_root_only(p, path, chain, &fs) != 0)
			ret = EXIT_INPUT;
	}
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
