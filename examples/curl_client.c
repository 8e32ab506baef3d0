/*
 * A libcurl client with certpin: the integration is the calls marked
 * "certpin" below. It GETs URL (following redirects) once, or twice on one
 * handle with --twice, and prints the HTTP status of each transfer.
 *
 * usage: curl_client [--cafile CA] [--connect-to H:P:H2:P2]... [--proxy URL]
 *                    [--insecure] [--twice POLICY2] POLICY URL
 *   --cafile      trust only the certificates in CA (PEM)
 *   --connect-to  as curl --connect-to (repeatable): keeps the URL's host for
 *                 SNI, host-name checking and the policy
 *   --proxy URL   an HTTP proxy (CONNECT tunnel), e.g. http://127.0.0.1:8080;
 *                 otherwise no proxy is used whatever the environment says
 *   --insecure    CURLOPT_SSL_VERIFYPEER=0 and VERIFYHOST=0, to show that pins
 *                 are still enforced
 *   --twice P2    a second transfer on the same handle (connection reuse)
 *                 after certpin_ctx_set_policy(P2)
 * exit: 0 success, 1 blocked by pinning (the failure message is printed),
 *       2 certificate validation failed, 3 other error, 4 policy error,
 *       64 usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include <certpin/certpin_curl.h>

#define MAX_CONNECT_TO 8

static void usage(void)
{
	fprintf(stderr, "usage: curl_client [--cafile CA] [--connect-to H:P:H2:P2]... [--proxy URL] "
	                "[--insecure] [--twice POLICY2] POLICY URL\n");
}

static size_t discard(char *p, size_t size, size_t n, void *u)
{
	(void)p, (void)u;
	return size * n;
}

static certpin_policy *load(const char *path)
{
	certpin_policy *p = NULL;
	certpin_error err;
	if (certpin_policy_load_file(path, 0, &p, NULL, &err) != CERTPIN_OK) {
		char line[1024];
		certpin_error_format(&err, line, sizeof line);
		fprintf(stderr, "curl_client: %s\n", line);
		return NULL;
	}
	return p;
}

/* One transfer; returns the exit code. */
static int transfer(CURL *h, const char *url)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	CURLcode rc = curl_easy_perform(h);
	certpin_verdict_code code = certpin_curl_last_verdict_code(h); /* certpin */
	if (rc == CURLE_OK) {
		long status = 0;
		char *eff = NULL;
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
		curl_easy_getinfo(h, CURLINFO_EFFECTIVE_URL, &eff);
		printf("HTTP %ld %s (certpin %s)\n", status, eff != NULL ? eff : "",
		       certpin_verdict_code_name(code));
		return 0;
	}
	printf("curl error %d: %s\n", (int)rc, errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc));
	if (code == 0 || certpin_verdict_code_allowed(code))
		return 3; /* not a certpin block */
	char msg[8192];
	certpin_curl_last_message(h, msg, sizeof msg); /* certpin */
	printf("certpin %s\n%s", certpin_verdict_code_name(code), msg);
	return code == CERTPIN_V_CHAIN_INVALID || code == CERTPIN_V_HOSTNAME_MISMATCH ? 2 : 1;
}

int main(int argc, char **argv)
{
	const char *cafile = NULL, *policy2 = NULL, *proxy = NULL;
	int insecure = 0, i = 1;
	struct curl_slist *connect_to = NULL;
	for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
		if (strcmp(argv[i], "--cafile") == 0 && i + 1 < argc)
			cafile = argv[++i];
		else if (strcmp(argv[i], "--connect-to") == 0 && i + 1 < argc)
			connect_to = curl_slist_append(connect_to, argv[++i]);
		else if (strcmp(argv[i], "--proxy") == 0 && i + 1 < argc)
			proxy = argv[++i];
		else if (strcmp(argv[i], "--twice") == 0 && i + 1 < argc)
			policy2 = argv[++i];
		else if (strcmp(argv[i], "--insecure") == 0)
			insecure = 1;
		else {
			usage();
			return 64;
		}
	}
	if (argc - i != 2) {
		usage();
		return 64;
	}
	certpin_policy *p = load(argv[i]);
	certpin_policy *p2 = policy2 != NULL ? load(policy2) : NULL;
	if (p == NULL || (policy2 != NULL && p2 == NULL))
		return 4;
	certpin_ctx *c = certpin_ctx_new(p); /* certpin */
	certpin_policy_free(p);
	if (c == NULL || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return 3;

	int ex = 3;
	CURL *h = curl_easy_init();
	if (h == NULL)
		goto out;
	if (certpin_curl_pin(h, c) != CERTPIN_OK) { /* certpin */
		fprintf(stderr, "curl_client: libcurl is not built with OpenSSL\n");
		goto out;
	}
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https,http");
	curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "https");
	if (proxy != NULL) {
		curl_easy_setopt(h, CURLOPT_PROXY, proxy);
		curl_easy_setopt(h, CURLOPT_HTTPPROXYTUNNEL, 1L);
	} else {
		curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
	}
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 20L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
	if (cafile != NULL) {
		curl_easy_setopt(h, CURLOPT_CAINFO, cafile);
		curl_easy_setopt(h, CURLOPT_CAPATH, (char *)NULL);
	}
	if (connect_to != NULL)
		curl_easy_setopt(h, CURLOPT_CONNECT_TO, connect_to);
	if (insecure) {
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	ex = transfer(h, argv[i + 1]);
	if (ex == 0 && p2 != NULL) {
		long conns = 0;
		if (certpin_ctx_set_policy(c, p2) != CERTPIN_OK) { /* certpin */
			ex = 3;
			goto out;
		}
		ex = transfer(h, argv[i + 1]);
		curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &conns);
		printf("new connections in the second transfer: %ld\n", conns);
	}
out:
	certpin_curl_unpin(h); /* certpin: before curl_easy_cleanup */
	curl_easy_cleanup(h);
	curl_slist_free_all(connect_to);
	certpin_policy_free(p2);
	certpin_ctx_free(c);
	curl_global_cleanup();
	return ex;
}
