/*
 * certpin attack: a man-in-the-middle battery against any client program.
 *
 * A throwaway PKI, a policy and a CA file for the client (the CA file also
 * holds the attacker's rogue root, as on a device where a malicious profile
 * was installed); then, per scenario, a TLS server on 127.0.0.1 presenting
 * that scenario's chain while the client command runs. The server's
 * observation decides: the client accepted when it completed the handshake
 * and sent a request. A control scenario with the legitimate chain must be
 * accepted, or the run proves nothing (exit 2).
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/x509_vfy.h>

#include "attack.h"
#include "certpin/certpin.h"
#include "certpin/certpin_openssl.h"
#include "certpin/certpin_report.h"
#include "cli.h"

enum expect { E_ACCEPT, E_REJECT, E_EITHER };
enum kind { K_CONTROL, K_ATTACK, K_KEY_SCOPE, K_MITM };

static const struct scenario {
	const char *name;
	enum kind kind;
	const char *desc; /* HOST stands for the host */
} scenarios[] = {
	{"control", K_CONTROL, "the legitimate chain: a leaf for HOST from the legitimate intermediate"},
	{"rogue-ca", K_ATTACK, "a leaf for HOST issued by the rogue root CA the victim trusts"},
	{"self-signed", K_ATTACK, "a self-signed certificate for HOST (legitimate leaf key)"},
	{"wrong-name", K_ATTACK,
	 "a certificate for attacker.test from the legitimate intermediate (legitimate leaf key)"},
	{"expired", K_ATTACK, "the legitimate leaf key in a certificate for HOST that expired 30 days ago"},
	{"not-yet-valid", K_ATTACK,
	 "the legitimate leaf key in a certificate for HOST valid only from 30 days from now"},
	{"untrusted-intermediate", K_ATTACK,
	 "a leaf for HOST (legitimate leaf key) from an intermediate under an untrusted root"},
	{"appended-pins", K_ATTACK,
	 "a rogue-CA leaf for HOST with the real intermediate and root appended (CVE-2016-2402)"},
	{"fake-intermediate", K_ATTACK,
	 "a CA with the real intermediate's name and another key, under the rogue root"},
	{"legit-key-rogue-ca", K_KEY_SCOPE,
	 "the legitimate leaf key in a certificate for HOST issued by the rogue root CA"},
	{"sha1", K_ATTACK, "a leaf for HOST (legitimate leaf key) signed with SHA-1 by the legitimate intermediate"},
	{"rsa-1024", K_ATTACK, "a leaf for HOST with a 1024-bit RSA key from the legitimate intermediate"},
	{"cn-only", K_ATTACK,
	 "a leaf with CN=HOST and no subjectAltName (legitimate leaf key and intermediate)"},
	{"wildcard-tld", K_ATTACK,
	 "a wildcard leaf over the top-level domain of HOST (legitimate leaf key and intermediate)"},
	{"tls-legacy", K_ATTACK, "the legitimate chain on a server that speaks only TLS 1.0 and 1.1"},
	{"mitmproxy", K_MITM, "mitmproxy in reverse mode, forging certificates with the rogue root CA"},
};
#define N_SCENARIOS (sizeof scenarios / sizeof scenarios[0])

/* mitmdump addon: records the client's side of the mitmproxy scenario. */
static const char mitm_addon_text[] =
    "# certpin attack: what the client did through mitmproxy\n"
    "import os\n"
    "class CertpinWatch:\n"
    "    def __init__(self):\n"
    "        self.f = open(os.environ['CERTPIN_ATTACK_MITM_EVENTS'], 'a', buffering=1)\n"
    "    def client_connected(self, client):\n"
    "        self.f.write('connect\\n')\n"
    "    def tls_established_client(self, data):\n"
    "        self.f.write('tls-ok\\n')\n"
    "    def tls_failed_client(self, data):\n"
    "        self.f.write('tls-failed\\n')\n"
    "    def requestheaders(self, flow):\n"
    "        r = flow.request\n"
    "        self.f.write('request %s %s %s\\n' % (r.method, r.path, r.http_version))\n"
    "addons = [CertpinWatch()]\n";

static const char scope_note[] =
    "a leaf pin matches the key whatever the issuer: whoever holds the leaf's private key passes "
    "leaf pinning. Pinning the intermediate also binds the issuer, at the cost of re-pinning "
    "when the CA changes.";

/* One scenario's outcome. */
struct result {
	const struct scenario *s;
	enum expect expected;
	int ran, skipped, error, accepted;
	const char *verdict; /* pass, FAIL, info, skip, error */
	struct atk_observation obs;
	char desc[300];
	char detail[640];
	const char *note;
};

/* Values of the placeholders. */
struct vars {
	const char *tmpl;
	const char *host, *cafile, *policy, *dir, *scenario;
	char pins[256];
};

/* desc with HOST replaced by host. */
static void fill_desc(char *out, size_t n, const char *desc, const char *host)
{
	const char *h = strstr(desc, "HOST");
	if (h == NULL)
		snprintf(out, n, "%s", desc);
	else
		snprintf(out, n, "%.*s%s%s", (int)(h - desc), desc, host, h + 4);
}

static void attack_usage(FILE *f)
{
	fprintf(f,
	        "usage: certpin attack --client 'CMD ... {host} {port} {cafile} {policy} ...'\n"
	        "                      [--host NAME] [--pin-scope leaf|intermediate|root]\n"
	        "                      [--only NAME,...] [--json FILE] [--junit FILE] [--keep]\n"
	        "                      [--timeout S] [--mitmdump PATH] [--report-to FILE] [--list]\n"
	        "\n"
	        "Attacks a client program with a battery of man-in-the-middle scenarios. For each\n"
	        "one a TLS server on 127.0.0.1 presents that scenario's chain and the client\n"
	        "command runs; the client accepted the server when it completed the handshake\n"
	        "and sent a request. The control scenario (the legitimate chain) must be\n"
	        "accepted; every attack must be rejected.\n"
	        "\n"
	        "  --client CMD        run by /bin/sh -c with these placeholders replaced:\n"
	        "                        {host}    NAME, for SNI and the host-name check\n"
	        "                        {port}    the port to connect to on {addr}\n"
	        "                        {addr}    127.0.0.1\n"
	        "                        {cafile}  legitimate root + the attacker's rogue root\n"
	        "                        {policy}  a certpin policy pinning the legitimate chain\n"
	        "                        {pins}    the same pins as curl --pinnedpubkey wants them\n"
	        "                                  ('sha256//...;sha256//...': quote it)\n"
	        "                        {dir}     the work directory\n"
	        "                        {scenario} the scenario's name\n"
	        "                      (also in the environment: CERTPIN_ATTACK_PORT and\n"
	        "                      CERTPIN_ATTACK_SCENARIO)\n"
	        "  --host NAME         the server's name (default api.test)\n"
	        "  --pin-scope S       what {policy} and {pins} pin, with a backup key pin:\n"
	        "                      leaf, intermediate (default) or root\n"
	        "  --only A,B          run only these scenarios (and the control)\n"
	        "  --json FILE         the results as JSON\n"
	        "  --junit FILE        the results as JUnit XML\n"
	        "  --keep              keep the work directory (PKI, policy, client logs)\n"
	        "  --timeout S         time limit of each client run (default 15)\n"
	        "  --mitmdump PATH     mitmdump for the mitmproxy scenario (default: from PATH;\n"
	        "                      the scenario is skipped when there is none)\n"
	        "  --report-to FILE    the violation reports certpin's own check would send for\n"
	        "                      the scenarios' chains under {policy} (validated against\n"
	        "                      {cafile}, host NAME, port {port}), whatever the client\n"
	        "                      did: one JSON object, or an array (mitmproxy's forged\n"
	        "                      chain is not known in advance: no report for it)\n"
	        "  --list              list the scenarios and exit\n"
	        "\n"
	        "exit: 0 control accepted and no attack accepted, 1 an attack was accepted (or a\n"
	        "      scenario could not run), 2 inconclusive (the control was not accepted),\n"
	        "      4 cannot write a file, 64 usage\n");
}

static void on_signal(int sig)
{
	(void)sig;
	atk_interrupted = 1;
}

/* Appends s to the buffer *b of *len bytes (capacity *cap). 0 or -1. */
static int buf_add(char **b, size_t *len, size_t *cap, const char *s, size_t n)
{
	if (*len + n + 1 > *cap) {
		size_t nc = (*cap ? *cap * 2 : 256);
		while (nc < *len + n + 1)
			nc *= 2;
		char *nb = realloc(*b, nc);
		if (nb == NULL)
			return -1;
		*b = nb;
		*cap = nc;
	}
	memcpy(*b + *len, s, n);
	*len += n;
	(*b)[*len] = '\0';
	return 0;
}

/* The client command for port: every known {placeholder} replaced, any
 * other text (shell braces included) left alone. */
static char *fill_command(void *arg, int port)
{
	const struct vars *v = arg;
	char portbuf[16];
	snprintf(portbuf, sizeof portbuf, "%d", port);
	const struct {
		const char *key, *val;
	} map[] = {
		{"{host}", v->host},     {"{port}", portbuf}, {"{addr}", "127.0.0.1"},
		{"{cafile}", v->cafile}, {"{policy}", v->policy}, {"{pins}", v->pins},
		{"{dir}", v->dir},       {"{scenario}", v->scenario},
	};
	char *out = NULL;
	size_t len = 0, cap = 0;
	const char *p = v->tmpl;
	if (buf_add(&out, &len, &cap, "", 0) != 0)
		return NULL;
	while (*p != '\0') {
		size_t i, matched = 0;
		for (i = 0; i < sizeof map / sizeof map[0]; i++) {
			size_t kl = strlen(map[i].key);
			if (strncmp(p, map[i].key, kl) == 0) {
				if (buf_add(&out, &len, &cap, map[i].val, strlen(map[i].val)) != 0)
					goto fail;
				p += kl;
				matched = 1;
				break;
			}
		}
		if (!matched) {
			if (buf_add(&out, &len, &cap, p, 1) != 0)
				goto fail;
			p++;
		}
	}
	return out;
fail:
	free(out);
	return NULL;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

/* A line of mitmdump's log that says why the client hung up, if any. */
static void mitm_reason(const char *log, char *out, size_t n)
{
	FILE *f = fopen(log, "r");
	char line[512];
	out[0] = '\0';
	if (f == NULL)
		return;
	while (fgets(line, sizeof line, f) != NULL) {
		const char *k = strstr(line, "Client TLS handshake failed. ");
		if (k != NULL) {
			k += strlen("Client TLS handshake failed. ");
			const char *end = strstr(k, " (");
			snprintf(out, n, "%.*s", (int)(end ? end - k : (long)strcspn(k, "\r\n")), k);
			for (char *c = out; *c != '\0'; c++)
				if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e)
					*c = '?';
		}
	}
	fclose(f);
}

/* The first non-empty line of the client's output: its own explanation. */
static void first_line(const char *log, char *out, size_t n)
{
	FILE *f = fopen(log, "r");
	char line[512];
	out[0] = '\0';
	if (f == NULL)
		return;
	while (out[0] == '\0' && fgets(line, sizeof line, f) != NULL) {
		const char *p = line + strspn(line, " \t");
		size_t l = strcspn(p, "\r\n");
		while (l > 0 && (p[l - 1] == ' ' || p[l - 1] == '\t'))
			l--;
		if (l > 0)
			snprintf(out, n, "%.*s", (int)l, p);
		for (char *c = out; *c != '\0'; c++)
			if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e)
				*c = '?'; /* the reports are UTF-8 JSON and XML: keep ASCII */
	}
	fclose(f);
}

static void describe(struct result *r, const char *mitm_log, const char *client_log)
{
	const struct atk_observation *o = &r->obs;
	char head[300], tail[64], said[200];
	if (r->s->kind == K_MITM) {
		char why[200];
		mitm_reason(mitm_log, why, sizeof why);
		if (o->mitm_requests > 0 || o->requests > 0)
			snprintf(head, sizeof head, "the client sent \"%s\" through mitmproxy",
			         o->request[0] ? o->request : "data");
		else if (o->mitm_handshakes > 0)
			snprintf(head, sizeof head,
			         "handshake with mitmproxy completed, then the client hung up without a "
			         "request");
		else if (o->mitm_connections > 0)
			snprintf(head, sizeof head, "the client aborted the handshake with mitmproxy%s%s",
			         why[0] ? ": " : "", why);
		else
			snprintf(head, sizeof head, "the client never connected to mitmproxy");
	} else if (o->requests > 0) {
		snprintf(head, sizeof head, "handshake and request \"%s\"", o->request);
	} else if (o->handshakes > 0) {
		snprintf(head, sizeof head, "handshake completed, then the client hung up without a request");
	} else if (o->alert[0] != '\0') {
		snprintf(head, sizeof head, "the client aborted the handshake with alert \"%s\"", o->alert);
	} else if (o->connections > 0) {
		snprintf(head, sizeof head, "the handshake failed%s%s", o->error[0] ? ": " : "", o->error);
	} else {
		snprintf(head, sizeof head, "the client never connected");
	}
	if (o->timed_out && atk_interrupted)
		snprintf(tail, sizeof tail, "; client stopped (interrupted)");
	else if (o->timed_out)
		snprintf(tail, sizeof tail, "; client killed at the time limit");
	else
		snprintf(tail, sizeof tail, "; client exit %d", o->client_exit);
	first_line(client_log, said, sizeof said);
	snprintf(r->detail, sizeof r->detail, "%s%s%s%s%s", head, tail, said[0] ? " (\"" : "", said,
	         said[0] ? "\")" : "");
}

/*
 * A rejection counts only with evidence for it: the client reached the
 * server and then aborted or hung up. A client that never connected, was
 * killed with a connection open and no request, was cut off by the server's
 * connection limit or interrupted neither accepted nor rejected: the
 * scenario is an error, never a pass.
 */
static void inconclusive_run(struct result *r)
{
	const struct atk_observation *o = &r->obs;
	const char *why = NULL;
	char buf[120];
	if (r->accepted || r->s->kind == K_CONTROL)
		return;
	int reached = r->s->kind == K_MITM ? o->mitm_connections : o->connections;
	if (o->timed_out && atk_interrupted) {
		why = "interrupted before the client finished";
	} else if (o->dropped > 0) {
		snprintf(buf, sizeof buf, "%d connection(s) over the server's limit were closed unserved",
		         o->dropped);
		why = buf;
	} else if (reached == 0) {
		why = "the client never connected, so it neither accepted nor rejected";
	} else if (o->timed_out && (r->s->kind == K_MITM || o->open_at_kill > 0)) {
		why = "the client was killed at the time limit with a connection open and no request";
	}
	if (why == NULL)
		return;
	r->error = 1;
	size_t l = strlen(r->detail);
	snprintf(r->detail + l, sizeof r->detail - l, "; not conclusive: %s", why);
}

static const char *expect_name(enum expect e)
{
	switch (e) {
	case E_ACCEPT:
		return "accept";
	case E_EITHER:
		return "either";
	case E_REJECT:
	default:
		return "reject";
	}
}

static const char *observed_name(const struct result *r)
{
	if (!r->ran)
		return "-";
	if (r->error)
		return "unclear"; /* neither accepted nor visibly rejected */
	return r->accepted ? "accepted" : "rejected";
}

static void print_row(const struct result *r)
{
	printf("%-23s %-8s %-8s %-7s %s\n", r->s->name, expect_name(r->expected), observed_name(r),
	       r->verdict, r->detail);
	if (r->note != NULL)
		printf("%-23s note: %s\n", "", r->note);
	fflush(stdout);
}

static void json_result(FILE *f, const struct result *r)
{
	fprintf(f, "{\"name\": ");
	cli_json_string(f, r->s->name);
	fprintf(f, ", \"description\": ");
	cli_json_string(f, r->desc);
	fprintf(f, ", \"expected\": \"%s\", \"observed\": \"%s\", \"verdict\": \"%s\", \"detail\": ",
	        expect_name(r->expected), r->ran ? observed_name(r) : "not run", r->verdict);
	cli_json_string(f, r->detail);
	fprintf(f, ", \"connections\": %d, \"handshakes\": %d, \"requests\": %d, \"client_exit\": ",
	        r->obs.connections, r->obs.handshakes, r->obs.requests);
	if (r->ran && !r->obs.timed_out)
		fprintf(f, "%d", r->obs.client_exit);
	else
		fprintf(f, "null");
	fprintf(f, ", \"timed_out\": %s", r->obs.timed_out ? "true" : "false");
	if (r->note != NULL) {
		fprintf(f, ", \"note\": ");
		cli_json_string(f, r->note);
	}
	fprintf(f, "}");
}

static void xml_text(FILE *f, const char *s)
{
	for (; *s != '\0'; s++) {
		switch (*s) {
		case '<':
			fputs("&lt;", f);
			break;
		case '>':
			fputs("&gt;", f);
			break;
		case '&':
			fputs("&amp;", f);
			break;
		case '"':
			fputs("&quot;", f);
			break;
		default:
			if ((unsigned char)*s >= 0x20 || *s == '\n' || *s == '\t')
				fputc(*s, f);
			break;
		}
	}
}

struct totals {
	int passed, failed, info, skipped;
};

static int write_json(const char *path, const char *host, const char *scope, const char *client,
                      const struct result *res, size_t n, const struct totals *t, int inconclusive)
{
	FILE *f = fopen(path, "w");
	if (f == NULL)
		return -1;
	fprintf(f, "{\n  \"host\": ");
	cli_json_string(f, host);
	fprintf(f, ",\n  \"pin_scope\": \"%s\",\n  \"client\": ", scope);
	cli_json_string(f, client);
	fprintf(f, ",\n  \"control\": ");
	json_result(f, &res[0]);
	fprintf(f, ",\n  \"scenarios\": [");
	int first = 1;
	for (size_t i = 1; i < n; i++) {
		if (!res[i].ran && !res[i].skipped && !res[i].error)
			continue; /* not selected, or the control failed */
		fprintf(f, "%s\n    ", first ? "" : ",");
		json_result(f, &res[i]);
		first = 0;
	}
	fprintf(f, "\n  ],\n  \"passed\": %d,\n  \"failed\": %d,\n  \"informational\": %d,\n"
	           "  \"skipped\": %d,\n  \"inconclusive\": %s,\n  \"interrupted\": %s\n}\n",
	        t->passed, t->failed, t->info, t->skipped, inconclusive ? "true" : "false",
	        atk_interrupted ? "true" : "false");
	return fclose(f) == 0 ? 0 : -1;
}

static int write_junit(const char *path, const char *host, const struct result *res, size_t n,
                       const struct totals *t, int inconclusive)
{
	FILE *f = fopen(path, "w");
	if (f == NULL)
		return -1;
	int tests = 0, failures = t->failed + (inconclusive ? 1 : 0);
	for (size_t i = 0; i < n; i++)
		tests += res[i].ran || res[i].skipped || res[i].error;
	fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
	fprintf(f, "<testsuites name=\"certpin attack\" tests=\"%d\" failures=\"%d\" skipped=\"%d\">\n",
	        tests, failures, t->skipped);
	fprintf(f, "  <testsuite name=\"certpin attack ");
	xml_text(f, host);
	fprintf(f, "\" tests=\"%d\" failures=\"%d\" errors=\"0\" skipped=\"%d\">\n", tests, failures,
	        t->skipped);
	for (size_t i = 0; i < n; i++) {
		const struct result *r = &res[i];
		if (!r->ran && !r->skipped && !r->error)
			continue;
		fprintf(f, "    <testcase classname=\"certpin.attack\" name=\"");
		xml_text(f, r->s->name);
		fprintf(f, "\">\n");
		if (r->skipped) {
			fprintf(f, "      <skipped message=\"");
			xml_text(f, r->detail);
			fprintf(f, "\"/>\n");
		} else if (strcmp(r->verdict, "FAIL") == 0 || r->error) {
			fprintf(f, "      <failure message=\"expected %s, observed %s\">",
			        expect_name(r->expected), observed_name(r));
			xml_text(f, r->desc);
			fputs("\n", f);
			xml_text(f, r->detail);
			fprintf(f, "</failure>\n");
		}
		fprintf(f, "      <system-out>");
		xml_text(f, r->desc);
		fputs("\n", f);
		xml_text(f, r->detail);
		if (r->note != NULL) {
			fputs("\nnote: ", f);
			xml_text(f, r->note);
		}
		fprintf(f, "</system-out>\n    </testcase>\n");
	}
	fprintf(f, "  </testsuite>\n</testsuites>\n");
	return fclose(f) == 0 ? 0 : -1;
}

/* Characters a path may hold to be put into a shell command unquoted or in
 * quotes of the user's choosing. */
static int shell_safe(const char *s)
{
	return strpbrk(s, "'\"\\$`\n!;&|<>()*?[]{} \t#~") == NULL;
}

/* A PATH lookup; the result points to buf, or NULL. */
static const char *which(const char *name, char *buf, size_t n)
{
	const char *path = getenv("PATH");
	if (strchr(name, '/') != NULL)
		return access(name, X_OK) == 0 ? name : NULL;
	while (path != NULL && *path != '\0') {
		size_t l = strcspn(path, ":");
		if (l > 0 && (size_t)snprintf(buf, n, "%.*s/%s", (int)l, path, name) < n &&
		    access(buf, X_OK) == 0)
			return buf;
		path += l;
		if (*path == ':')
			path++;
	}
	return NULL;
}

/*
 * --report-to: what certpin's own check makes of the chain a scenario's
 * server presents, for host on port, under the generated policy with the
 * generated CA file as trust store, now. A reportable verdict goes to the
 * reporter (which dedups like an application's would).
 */
static void report_scenario(certpin_reporter *rep, const certpin_policy *policy, X509_STORE *store,
                            const char *host, int port, const struct atk_chain *chain)
{
	STACK_OF(X509) *sent = sk_X509_new_null();
	if (sent == NULL || chain->n < 1)
		goto out;
	for (int i = 0; i < chain->n; i++)
		if (!sk_X509_push(sent, chain->certs[i]))
			goto out;
	certpin_verdict *v = NULL;
	if (certpin_openssl_verify(policy, host, chain->certs[0], sent, store, CERTPIN_TIME_NOW,
	                           &v) == CERTPIN_OK)
		(void)certpin_reporter_submit(rep, policy, v, (unsigned)port, NULL, 0, NULL);
	certpin_verdict_free(v);
out:
	sk_X509_free(sent);
}

/* Is name one of the comma-separated names in list? */
static int listed(const char *list, const char *name)
{
	size_t nl = strlen(name);
	for (const char *p = list; *p != '\0';) {
		size_t l = strcspn(p, ",");
		if (l == nl && strncmp(p, name, nl) == 0)
			return 1;
		p += l;
		if (*p == ',')
			p++;
	}
	return 0;
}

int cmd_attack(int argc, char **argv)
{
	static const struct option opts[] = {
		{"client", required_argument, NULL, 'c'},  {"host", required_argument, NULL, 'H'},
		{"pin-scope", required_argument, NULL, 's'}, {"only", required_argument, NULL, 'o'},
		{"json", required_argument, NULL, 'j'},    {"junit", required_argument, NULL, 'u'},
		{"keep", no_argument, NULL, 'k'},          {"timeout", required_argument, NULL, 't'},
		{"mitmdump", required_argument, NULL, 'm'}, {"list", no_argument, NULL, 'l'},
		{"report-to", required_argument, NULL, 'r'},
		{"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
	};
	const char *report_to = NULL;
	const char *client = NULL, *host_arg = "api.test", *only = NULL, *json_path = NULL,
	           *junit_path = NULL, *mitm_arg = NULL, *scope_name = "intermediate";
	int keep = 0, timeout = 15, c;
	enum atk_scope scope = ATK_SCOPE_INTERMEDIATE;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			client = optarg;
			break;
		case 'H':
			host_arg = optarg;
			break;
		case 's':
			scope_name = optarg;
			if (strcmp(optarg, "leaf") == 0) {
				scope = ATK_SCOPE_LEAF;
			} else if (strcmp(optarg, "intermediate") == 0) {
				scope = ATK_SCOPE_INTERMEDIATE;
			} else if (strcmp(optarg, "root") == 0) {
				scope = ATK_SCOPE_ROOT;
			} else {
				cli_error("attack: --pin-scope must be leaf, intermediate or root, not '%s'",
				          optarg);
				return EXIT_USAGE;
			}
			break;
		case 'o':
			only = optarg;
			break;
		case 'j':
			json_path = optarg;
			break;
		case 'u':
			junit_path = optarg;
			break;
		case 'k':
			keep = 1;
			break;
		case 't': {
			char *end = NULL;
			long tl = strtol(optarg, &end, 10);
			timeout = end != optarg && *end == '\0' && tl >= 1 && tl <= 600 ? (int)tl : 0;
			if (timeout < 1 || timeout > 600) {
				cli_error("attack: --timeout must be 1..600 seconds");
				return EXIT_USAGE;
			}
			break;
		}
		case 'm':
			mitm_arg = optarg;
			break;
		case 'r':
			report_to = optarg;
			break;
		case 'l':
			for (size_t i = 0; i < N_SCENARIOS; i++) {
				printf("%-23s %s\n", scenarios[i].name, scenarios[i].desc);
			}
			return 0;
		case 'h':
			attack_usage(stdout);
			return 0;
		default:
			cli_error("attack: unknown or incomplete option '%s' (see 'certpin attack --help')",
			          argv[optind - 1]);
			return EXIT_USAGE;
		}
	}
	if (client == NULL || optind != argc) {
		cli_error("attack: needs --client 'COMMAND' and no other arguments "
		          "(see 'certpin attack --help')");
		return EXIT_USAGE;
	}
	char host[CERTPIN_HOST_MAX + 1];
	certpin_error err;
	if (certpin_host_normalize(host_arg, host, sizeof host, &err) != CERTPIN_OK ||
	    strchr(host, '*') != NULL || strchr(host, ':') != NULL ||
	    strspn(host, "0123456789.") == strlen(host) || strchr(host, '.') == NULL) {
		cli_error("attack: --host '%s' must be a DNS name with at least two labels "
		          "(like api.test)",
		          host_arg);
		return EXIT_USAGE;
	}
	if (only != NULL) {
		for (const char *p = only; *p != '\0';) {
			size_t l = strcspn(p, ","), i;
			for (i = 0; i < N_SCENARIOS; i++)
				if (strlen(scenarios[i].name) == l && strncmp(p, scenarios[i].name, l) == 0)
					break;
			if (i == N_SCENARIOS) {
				cli_error("attack: --only: no scenario '%.*s' (see 'certpin attack --list')",
				          (int)l, p);
				return EXIT_USAGE;
			}
			p += l;
			if (*p == ',')
				p++;
		}
	}
	char mitm_buf[4096];
	const char *mitmdump = which(mitm_arg ? mitm_arg : "mitmdump", mitm_buf, sizeof mitm_buf);
	if (mitm_arg != NULL && mitmdump == NULL) {
		cli_error("attack: --mitmdump '%s' is not an executable", mitm_arg);
		return EXIT_USAGE;
	}

	/* the work directory */
	const char *tmp = getenv("TMPDIR");
	char dir[4096];
	if (tmp == NULL || *tmp == '\0')
		tmp = "/tmp";
	if ((size_t)snprintf(dir, sizeof dir, "%s/certpin-attack.XXXXXX", tmp) >= sizeof dir - 64 ||
	    !shell_safe(dir) || dir[0] != '/') {
		cli_error("attack: TMPDIR '%s' must be an absolute path, not too long, without "
		          "characters a shell command cannot take unquoted",
		          tmp);
		return EXIT_USAGE;
	}
	if (mkdtemp(dir) == NULL) {
		cli_error("attack: cannot create a directory in %s: %s", tmp, strerror(errno));
		return EXIT_INPUT;
	}

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN); /* a client hanging up must not kill us */
	/* whatever a client leaves behind (even in its own process group or
	 * session) becomes our child, to be killed after its scenario */
	(void)prctl(PR_SET_CHILD_SUBREAPER, 1);

	int ret = EXIT_BLOCKED;
	struct cli_reports reports;
	int have_reports = 0;
	certpin_policy *rpolicy = NULL;
	X509_STORE *rstore = NULL;
	struct atk_pki pki;
	int have_pki = 0;
	char why[512], cafile[4200], policy[4200], mitm_conf[4200], mitm_log[4200];
	char mitm_addon[4200], mitm_events[4200];
	struct result res[N_SCENARIOS];
	struct totals tot = {0, 0, 0, 0};
	int inconclusive = 0;
	memset(res, 0, sizeof res);

	if (atk_pki_new(&pki, host, why, sizeof why) != 0) {
		cli_error("attack: %s", why);
		ret = EXIT_INPUT;
		goto out;
	}
	have_pki = 1;
	if (atk_pki_write(&pki, dir, scope, why, sizeof why) != 0) {
		cli_error("attack: %s", why);
		ret = EXIT_INPUT;
		goto out;
	}
	snprintf(cafile, sizeof cafile, "%s/cafile.pem", dir);
	snprintf(policy, sizeof policy, "%s/policy.json", dir);
	snprintf(mitm_conf, sizeof mitm_conf, "%s/mitmproxy", dir);
	snprintf(mitm_log, sizeof mitm_log, "%s/mitmdump.log", dir);
	{
		/* the policy we wrote must load: a broken {policy} would fail the
		 * control for the wrong reason */
		certpin_policy *pp = NULL;
		char line[1024];
		if (certpin_policy_load_file(policy, 0, &pp, NULL, &err) != CERTPIN_OK) {
			certpin_error_format(&err, line, sizeof line);
			cli_error("attack: the generated policy does not load: %s", line);
			ret = EXIT_INPUT;
			goto out;
		}
		certpin_policy_free(pp);
	}
	if (report_to != NULL) {
		if (cli_reports_begin(&reports, "attack") != 0) {
			ret = EXIT_INPUT;
			goto out;
		}
		have_reports = 1;
		rstore = X509_STORE_new();
		if (rstore == NULL || X509_STORE_load_file(rstore, cafile) != 1 ||
		    certpin_policy_load_file(policy, 0, &rpolicy, NULL, &err) != CERTPIN_OK) {
			cli_error("attack: cannot load the generated CA file or policy for --report-to");
			ret = EXIT_INPUT;
			goto out;
		}
	}
	struct vars v = {.tmpl = client, .host = host, .cafile = cafile, .policy = policy, .dir = dir};
	snprintf(v.pins, sizeof v.pins, "sha256//%.60s;sha256//%.60s",
	         (scope == ATK_SCOPE_LEAF ? pki.leaf_pin
	          : scope == ATK_SCOPE_ROOT ? pki.root_pin
	                                    : pki.int_pin) + 7,
	         pki.backup_pin + 7);

	/* the addon through which mitmdump tells what the client did */
	snprintf(mitm_addon, sizeof mitm_addon, "%s/mitm_watch.py", dir);
	snprintf(mitm_events, sizeof mitm_events, "%s/mitm-events.log", dir);
	{
		FILE *f = fopen(mitm_addon, "w");
		if (f == NULL || fputs(mitm_addon_text, f) < 0 || fclose(f) != 0) {
			cli_error("attack: cannot write %s", mitm_addon);
			ret = EXIT_INPUT;
			goto out;
		}
	}

	printf("certpin attack: %s, pins at %s scope (with a backup pin)\n", host, scope_name);
	printf("client: %s\n", client);
	printf("work directory: %s%s\n\n", dir, keep ? " (kept)" : " (removed at the end; --keep keeps it)");
	printf("%-23s %-8s %-8s %-7s %s\n", "SCENARIO", "EXPECTED", "OBSERVED", "VERDICT", "DETAIL");
	fflush(stdout);

	for (size_t i = 0; i < N_SCENARIOS && !atk_interrupted; i++) {
		struct result *r = &res[i];
		const struct scenario *s = &scenarios[i];
		r->s = s;
		fill_desc(r->desc, sizeof r->desc, s->desc, host);
		r->expected = s->kind == K_CONTROL ? E_ACCEPT
		              : s->kind == K_KEY_SCOPE && scope == ATK_SCOPE_LEAF ? E_EITHER
		                                                                  : E_REJECT;
		if (s->kind != K_CONTROL && only != NULL && !listed(only, s->name))
			continue;
		if (s->kind == K_MITM && mitmdump == NULL) {
			r->skipped = 1;
			r->verdict = "skip";
			snprintf(r->detail, sizeof r->detail,
			         "mitmdump not found on PATH (install mitmproxy, or --mitmdump PATH)");
			tot.skipped++;
			print_row(r);
			continue;
		}
		struct atk_chain chain;
		char chain_path[4300], log_path[4300];
		snprintf(chain_path, sizeof chain_path, "%s/%s.chain.pem", dir, s->name);
		snprintf(log_path, sizeof log_path, "%s/%s.log", dir, s->name);
		if (atk_chain_make(&pki, s->name, &chain, why, sizeof why) != 0) {
			snprintf(r->detail, sizeof r->detail, "%.300s", why);
			r->error = 1;
		} else if (atk_chain_write(&chain, chain_path) != 0) {
			snprintf(r->detail, sizeof r->detail, "cannot write %.300s", chain_path);
			atk_chain_free(&chain);
			r->error = 1;
		} else {
			v.scenario = s->name;
			struct atk_run run = {.chain = &chain, .log_path = log_path, .scenario = s->name,
			                      .client_timeout = timeout};
			if (s->kind == K_MITM) {
				run.mitmdump = mitmdump;
				run.mitm_confdir = mitm_conf;
				run.mitm_log = mitm_log;
				run.mitm_addon = mitm_addon;
				run.mitm_events = mitm_events;
			}
			if (atk_run_scenario(&run, fill_command, &v, &r->obs, why, sizeof why) != 0) {
				snprintf(r->detail, sizeof r->detail, "%.300s", why);
				r->error = 1;
			} else {
				if (have_reports && s->kind != K_MITM)
					report_scenario(reports.r, rpolicy, rstore, host, r->obs.port, &chain);
				r->ran = 1;
				r->accepted = r->obs.requests > 0 || r->obs.mitm_requests > 0;
				describe(r, mitm_log, log_path);
				inconclusive_run(r);
			}
			atk_chain_free(&chain);
			atk_reap_strays();
		}
		if (r->error) {
			r->verdict = "error";
			tot.failed++;
		} else if (r->expected == E_EITHER) {
			r->verdict = "info";
			r->note = scope_note;
			tot.info++;
		} else if (r->accepted == (r->expected == E_ACCEPT)) {
			r->verdict = "pass";
			if (s->kind != K_CONTROL)
				tot.passed++;
		} else {
			r->verdict = "FAIL";
			if (s->kind != K_CONTROL)
				tot.failed++;
		}
		print_row(r);
		if (s->kind == K_CONTROL && (r->error || !r->accepted)) {
			inconclusive = 1;
			break;
		}
	}

	printf("\n");
	if (atk_interrupted) {
		printf("interrupted\n");
		ret = 130;
	} else if (inconclusive) {
		printf("inconclusive: the client did not accept the legitimate server (control), so its "
		       "rejections prove nothing. Its output is in %s/control.log%s.\n",
		       dir, keep ? "" : " (use --keep to look at it)");
		ret = 2;
	} else {
		printf("%d passed, %d failed", tot.passed, tot.failed);
		if (tot.info > 0)
			printf(", %d informational", tot.info);
		if (tot.skipped > 0)
			printf(", %d skipped", tot.skipped);
		printf("\n");
		ret = tot.failed > 0 ? EXIT_BLOCKED : 0;
	}
	if (json_path != NULL &&
	    write_json(json_path, host, scope_name, client, res, N_SCENARIOS, &tot, inconclusive) != 0) {
		cli_error("attack: cannot write %s: %s", json_path, strerror(errno));
		ret = EXIT_INPUT;
	}
	if (junit_path != NULL &&
	    write_junit(junit_path, host, res, N_SCENARIOS, &tot, inconclusive) != 0) {
		cli_error("attack: cannot write %s: %s", junit_path, strerror(errno));
		ret = EXIT_INPUT;
	}
	if (have_reports && cli_reports_write(&reports, "attack", report_to) != 0)
		ret = EXIT_INPUT;
out:
	if (have_reports)
		cli_reports_end(&reports);
	certpin_policy_free(rpolicy);
	X509_STORE_free(rstore);
	if (have_pki)
		atk_pki_free(&pki);
	if (!keep)
		(void)nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return ret;
}
