/*
 * Test driver for the pin-bundle updater (tests/e2e/test_updater.sh).
 *
 *   updater_tool sign --key KEY --policy P --seq N --iat T --exp T [--aud A]
 *                     [--signer PUB]... -o OUT
 *   updater_tool run --baseline P --signer PUB [--signer PUB]... --url URL
 *                    --cache DIR [--cafile CA] [--resolve H:P:A] [--aud A]
 *                    [--min-seq N] [--max-size N] [--timeout-ms N]
 *                    [--kill-during-cache-write] ACTION...
 *     ACTION: refresh | get URL | seq
 *
 * Every updater outcome is printed by the callback as
 *   event: NAME seq N: MESSAGE
 * `get URL` makes a request through the libcurl adapter on the same policy
 * holder and prints "get: allowed VERDICT HTTP CODE" or "get: blocked VERDICT".
 * Links libcertpin statically to reach the test hook that SIGKILLs the
 * process half-way through a cache write.
 */
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "certpin/certpin_bundle.h"
#include "certpin/certpin_curl.h"

extern void (*cp_updater_test_write_hook)(int fd);

static void die_now(int fd)
{
	(void)fd;
	fprintf(stdout, "hook: SIGKILL half-way through the cache write\n");
	fflush(stdout);
	raise(SIGKILL);
}

static char *slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		fprintf(stderr, "updater_tool: cannot open %s\n", path);
		exit(4);
	}
	char *b = malloc(4 * 1024 * 1024);
	*n = fread(b, 1, 4 * 1024 * 1024 - 1, f);
	b[*n] = '\0';
	fclose(f);
	return b;
}

static void on_event(void *arg, certpin_update_result r, int64_t seq, const char *msg)
{
	(void)arg;
	printf("event: %s seq %lld: %s\n", certpin_update_result_name(r), (long long)seq, msg);
	fflush(stdout);
}

static size_t sink(char *p, size_t s, size_t n, void *u)
{
	(void)p;
	(void)u;
	return s * n;
}

static int do_sign(int argc, char **argv)
{
	const char *key = NULL, *policy = NULL, *out = NULL, *aud = NULL;
	long long seq = 0, iat = 0, exp = 0;
	certpin_keyset *signers = certpin_keyset_new();
	for (int i = 2; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--key") == 0)
			key = argv[i + 1];
		else if (strcmp(argv[i], "--policy") == 0)
			policy = argv[i + 1];
		else if (strcmp(argv[i], "-o") == 0)
			out = argv[i + 1];
		else if (strcmp(argv[i], "--aud") == 0)
			aud = argv[i + 1];
		else if (strcmp(argv[i], "--seq") == 0)
			seq = atoll(argv[i + 1]);
		else if (strcmp(argv[i], "--iat") == 0)
			iat = atoll(argv[i + 1]);
		else if (strcmp(argv[i], "--exp") == 0)
			exp = atoll(argv[i + 1]);
		else if (strcmp(argv[i], "--signer") == 0 &&
		         certpin_keyset_add_file(signers, argv[i + 1], NULL, NULL) == CERTPIN_OK)
			;
		else
			return 64;
	}
	if (key == NULL || policy == NULL || out == NULL)
		return 64;
	size_t kl, pl;
	char *k = slurp(key, &kl), *p = slurp(policy, &pl), *jws = NULL;
	certpin_bundle_claims c = {.seq = seq, .iat = iat, .exp = exp, .aud = aud,
	                           .signers = certpin_keyset_count(signers) ? signers : NULL};
	certpin_error err;
	if (certpin_bundle_sign(p, pl, k, kl, &c, &jws, &err) != CERTPIN_OK) {
		char line[1024];
		certpin_error_format(&err, line, sizeof line);
		fprintf(stderr, "updater_tool: sign: %s\n", line);
		return 1;
	}
	FILE *f = fopen(out, "w");
	if (f == NULL || fputs(jws, f) < 0 || fclose(f) != 0)
		return 4;
	free(jws);
	free(k);
	free(p);
	certpin_keyset_free(signers);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "sign") == 0)
		return do_sign(argc, argv);
	if (argc < 2 || strcmp(argv[1], "run") != 0) {
		fprintf(stderr, "usage: updater_tool sign|run ...\n");
		return 64;
	}
	certpin_updater_config cfg;
	memset(&cfg, 0, sizeof cfg);
	certpin_keyset *signers = certpin_keyset_new();
	const char *baseline = NULL, *resolve[2] = {NULL, NULL};
	int i = 2;
	for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
		const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(o, "--kill-during-cache-write") == 0) {
			cp_updater_test_write_hook = die_now;
			continue;
		}
		if (v == NULL)
			return 64;
		i++;
		if (strcmp(o, "--baseline") == 0)
			baseline = v;
		else if (strcmp(o, "--signer") == 0) {
			certpin_error err;
			if (certpin_keyset_add_file(signers, v, NULL, &err) != CERTPIN_OK) {
				fprintf(stderr, "updater_tool: %s: %s\n", v, err.message);
				return 4;
			}
		} else if (strcmp(o, "--url") == 0)
			cfg.url = v;
		else if (strcmp(o, "--cache") == 0)
			cfg.cache_dir = v;
		else if (strcmp(o, "--cafile") == 0)
			cfg.cafile = v;
		else if (strcmp(o, "--resolve") == 0)
			resolve[0] = v;
		else if (strcmp(o, "--aud") == 0)
			cfg.audience = v;
		else if (strcmp(o, "--min-seq") == 0)
			cfg.min_seq = atoll(v);
		else if (strcmp(o, "--max-size") == 0)
			cfg.max_bundle_size = (size_t)atoll(v);
		else if (strcmp(o, "--timeout-ms") == 0)
			cfg.total_timeout_ms = cfg.connect_timeout_ms = atol(v);
		else
			return 64;
	}
	if (baseline == NULL)
		return 64;
	certpin_error err;
	certpin_policy *base = NULL;
	if (certpin_policy_load_file(baseline, 0, &base, NULL, &err) != CERTPIN_OK) {
		fprintf(stderr, "updater_tool: baseline: %s\n", err.message);
		return 4;
	}
	certpin_ctx *ctx = certpin_ctx_new(base);
	cfg.baseline = base;
	cfg.signers = signers;
	cfg.resolve = resolve[0] ? resolve : NULL;
	cfg.callback = on_event;
	certpin_updater *u = certpin_updater_new(&cfg, ctx, &err);
	if (u == NULL) {
		char line[1024];
		certpin_error_format(&err, line, sizeof line);
		fprintf(stderr, "updater_tool: %s\n", line);
		return 4;
	}
	for (; i < argc; i++) {
		if (strcmp(argv[i], "refresh") == 0) {
			certpin_update_result r = certpin_updater_refresh(u);
			printf("refresh: %s\n", certpin_update_result_name(r));
		} else if (strcmp(argv[i], "seq") == 0) {
			printf("seq: %lld\n", (long long)certpin_updater_seq(u));
		} else if (strcmp(argv[i], "get") == 0 && i + 1 < argc) {
			const char *url = argv[++i];
			CURL *h = curl_easy_init();
			struct curl_slist *rl = resolve[0] ? curl_slist_append(NULL, resolve[0]) : NULL;
			curl_easy_setopt(h, CURLOPT_URL, url);
			curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
			curl_easy_setopt(h, CURLOPT_TIMEOUT, 10L);
			if (cfg.cafile)
				curl_easy_setopt(h, CURLOPT_CAINFO, cfg.cafile);
			if (rl)
				curl_easy_setopt(h, CURLOPT_RESOLVE, rl);
			certpin_curl_pin(h, ctx);
			CURLcode cc = curl_easy_perform(h);
			long code = 0;
			curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
			certpin_verdict_code vc = certpin_curl_last_verdict_code(h);
			if (cc == CURLE_OK)
				printf("get: allowed %s HTTP %ld\n", certpin_verdict_code_name(vc), code);
			else
				printf("get: blocked %s (%s)\n", vc ? certpin_verdict_code_name(vc) : "-",
				       curl_easy_strerror(cc));
			certpin_curl_unpin(h);
			curl_easy_cleanup(h);
			curl_slist_free_all(rl);
		} else {
			fprintf(stderr, "updater_tool: unknown action %s\n", argv[i]);
			return 64;
		}
		fflush(stdout);
	}
	certpin_updater_free(u);
	certpin_ctx_free(ctx);
	certpin_policy_free(base);
	certpin_keyset_free(signers);
	return 0;
}
