/*
 * certpin check: a real TLS handshake with the policy attached through the
 * OpenSSL adapter, the verdict and its failure message, and optionally a
 * HEAD request so that check can stand in for an HTTP client (with --json
 * the status line goes to stderr, keeping stdout one JSON object).
 */
#include <getopt.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "certpin/certpin.h"
#include "certpin/certpin_openssl.h"
#include "certpin/certpin_report.h"
#include "cli.h"

static void check_usage(FILE *f)
{
	fprintf(f,
	        "usage: certpin check --policy POLICY [--connect ADDR:PORT] [--cafile CA.pem]\n"
	        "                     [--timeout S] [--http] [--json] [--report-to FILE]\n"
	        "                     HOST[:PORT]\n"
	        "\n"
	        "Handshakes with HOST under POLICY (validation first, then pinning on the\n"
	        "validated chain) and prints the verdict, with the failure message on a block.\n"
	        "\n"
	        "  --policy FILE        certpin policy JSON\n"
	        "  --connect ADDR:PORT  connect there but keep HOST for SNI, name checks and\n"
	        "                       the policy lookup\n"
	        "  --cafile FILE        trust anchors (replaces the system trust store)\n"
	        "  --timeout S          connect, handshake and HTTP time limit (default 10)\n"
	        "  --http               after an allowed handshake send 'HEAD / HTTP/1.1' and\n"
	        "                       print the status line\n"
	        "  --json               the verdict as JSON on stdout\n"
	        "  --report-to FILE     write the violation report an application would send\n"
	        "                       (RFC 7469 / TrustKit JSON) to FILE instead of sending\n"
	        "                       it: one object, or [] when the verdict is not reported\n"
	        "\n"
	        "exit: 0 allowed, 1 blocked by pinning, 2 certificate validation failed,\n"
	        "      3 connection/TLS error, 4 policy error, 64 usage\n");
}

/* HEAD / over the connection; prints the status line. 0 or an exit code. */
static int http_head(SSL *ssl, const char *host, const struct timespec *deadline, FILE *out)
{
	char req[512];
	int n = snprintf(req, sizeof req,
	                 "HEAD / HTTP/1.1\r\nHost: %s\r\nUser-Agent: certpin/%s\r\n"
	                 "Connection: close\r\n\r\n",
	                 host, certpin_version());
	int off = 0;
	while (off < n) {
		int w = SSL_write(ssl, req + off, n - off);
		if (w > 0) {
			off += w;
			continue;
		}
		if (cli_tls_wait(ssl, w, deadline) != 0) {
			cli_error("check: sending the HTTP request failed");
			return EXIT_CONNECTION;
		}
	}
	char buf[1024];
	size_t got = 0;
	while (got < sizeof buf - 1) {
		int r = SSL_read(ssl, buf + got, (int)(sizeof buf - 1 - got));
		if (r > 0) {
			got += (size_t)r;
			buf[got] = '\0';
			if (strstr(buf, "\r\n") != NULL)
				break;
			continue;
		}
		if (cli_tls_wait(ssl, r, deadline) != 0)
			break;
	}
	buf[got] = '\0';
	char *eol = strstr(buf, "\r\n");
	if (eol == NULL || strncmp(buf, "HTTP/", 5) != 0) {
		cli_error("check: no HTTP status line in the response");
		return EXIT_CONNECTION;
	}
	*eol = '\0';
	fprintf(out, "%s\n", buf);
	return 0;
}

int cmd_check(int argc, char **argv)
{
	static const struct option opts[] = {
		{"policy", required_argument, NULL, 'p'},  {"connect", required_argument, NULL, 'c'},
		{"cafile", required_argument, NULL, 'C'},  {"timeout", required_argument, NULL, 't'},
		{"http", no_argument, NULL, 'H'},          {"json", no_argument, NULL, 'j'},
		{"report-to", required_argument, NULL, 'r'},
		{"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
	};
	const char *policy_path = NULL, *connect_to = NULL, *cafile = NULL, *report_to = NULL;
	int json = 0, http = 0, timeout = 10, c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			policy_path = optarg;
			break;
		case 'c':
			connect_to = optarg;
			break;
		case 'C':
			cafile = optarg;
			break;
		case 't':
			timeout = atoi(optarg);
			if (timeout < 1 || timeout > 600) {
				cli_error("check: --timeout must be 1..600 seconds");
				return EXIT_USAGE;
			}
			break;
		case 'H':
			http = 1;
			break;
		case 'r':
			report_to = optarg;
			break;
		case 'j':
			json = 1;
			break;
		case 'h':
			check_usage(stdout);
			return 0;
		default:
			cli_error("check: unknown or incomplete option '%s' (see 'certpin check --help')",
			          argv[optind - 1]);
			return EXIT_USAGE;
		}
	}
	if (policy_path == NULL || optind != argc - 1) {
		cli_error("check: needs --policy and one HOST[:PORT] (see 'certpin check --help')");
		return EXIT_USAGE;
	}
	struct cli_target tg;
	int bad = cli_target_parse("check", argv[optind], connect_to, &tg);
	if (bad != 0)
		return bad;
	const char *name = tg.name, *caddr = tg.addr, *cport = tg.aport;
	int is_ip = tg.is_ip;

	char line[1024];
	certpin_error err;
	certpin_policy *policy = NULL;
	if (certpin_policy_load_file(policy_path, 0, &policy, NULL, &err) != CERTPIN_OK) {
		certpin_error_format(&err, line, sizeof line);
		cli_error("%s", line);
		return EXIT_INPUT;
	}
	certpin_ctx *pctx = certpin_ctx_new(policy);
	certpin_policy_free(policy);
	struct cli_reports reports;
	int have_reports = 0;
	if (report_to != NULL) {
		int rc = cli_reports_begin(&reports, "check");
		if (rc != 0) {
			certpin_ctx_free(pctx);
			return rc;
		}
		have_reports = 1;
		if (pctx != NULL && certpin_ctx_set_reporter(pctx, reports.r) != CERTPIN_OK) {
			cli_error("check: cannot attach the reporter");
			cli_reports_end(&reports);
			certpin_ctx_free(pctx);
			return EXIT_CONNECTION;
		}
	}

	int ret = EXIT_CONNECTION, fd = -1;
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL *ssl = NULL;
	char why[512];
	if (pctx == NULL || ctx == NULL)
		goto out;
	if (cli_load_trust(ctx, "check", cafile) != 0) {
		ret = EXIT_INPUT;
		goto out;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (certpin_openssl_attach(ctx, pctx) != CERTPIN_OK) {
		cli_error("check: cannot attach certpin to the TLS context");
		goto out;
	}
	ssl = SSL_new(ctx);
	if (ssl == NULL || SSL_set1_host(ssl, name) != 1 ||
	    (!is_ip && SSL_set_tlsext_host_name(ssl, tg.name) != 1))
		goto out;

	struct timespec deadline;
	cli_deadline(&deadline, timeout);
	fd = cli_connect(caddr, cport, &deadline, why, sizeof why);
	if (fd < 0) {
		cli_error("check: %s", why);
		goto out;
	}
	SSL_set_fd(ssl, fd);
	int hs = cli_handshake(ssl, &deadline);
	const certpin_verdict *v = certpin_openssl_get_verdict(ssl);
	if (hs != 0 && (v == NULL || certpin_verdict_allowed(v))) {
		/* the handshake failed for a reason other than the certificate check */
		if (hs == -2)
			snprintf(why, sizeof why, "TLS handshake timed out after %d s", timeout);
		else
			cli_openssl_error(why, sizeof why);
		cli_error("check: %s:%s: %s", caddr, cport, why);
		goto out;
	}
	if (v == NULL) { /* fail closed: a completed handshake without a verdict */
		cli_error("check: the handshake completed without a pinning verdict");
		ret = EXIT_BLOCKED;
		goto out;
	}
	cli_print_verdict(v, json);
	ret = cli_verdict_exit(certpin_verdict_get_code(v));
	if (ret == 0 && hs == 0 && http)
		ret = http_head(ssl, name, &deadline, json ? stderr : stdout);
out:
	SSL_free(ssl);
	if (fd >= 0)
		close(fd);
	SSL_CTX_free(ctx);
	certpin_ctx_free(pctx);
	if (have_reports) {
		int wr = cli_reports_write(&reports, "check", report_to);
		if (wr != 0)
			ret = wr;
		cli_reports_end(&reports);
	}
	ERR_clear_error();
	return ret;
}
