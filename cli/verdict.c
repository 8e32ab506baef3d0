/* Printing verdicts and their exit codes: shared by eval and check. */
#include <stdio.h>
#include <stdlib.h>

#include "certpin/certpin.h"
#include "cli.h"

/* Exit code of a verdict (the table of `certpin check` in ARCHITECTURE.md). */
int cli_verdict_exit(certpin_verdict_code c)
{
	if (certpin_verdict_code_allowed(c))
		return EXIT_ALLOWED;
	switch (c) {
	case CERTPIN_V_CHAIN_INVALID:
	case CERTPIN_V_HOSTNAME_MISMATCH:
		return EXIT_VALIDATION;
	case CERTPIN_V_PIN_MISMATCH:
	case CERTPIN_V_UNLISTED_HOST:
	case CERTPIN_V_EXPIRED_BLOCKED:
	case CERTPIN_V_INTERNAL_ERROR:
	default:
		return EXIT_BLOCKED;
	}
}

static void print_json(const certpin_verdict *v)
{
	char pin[CERTPIN_PIN_STRLEN];
	char subj[1024];
	const certpin_rule *r = certpin_verdict_rule(v);
	certpin_verdict_code c = certpin_verdict_get_code(v);
	printf("{\"host\":");
	cli_json_string(stdout, certpin_verdict_host(v));
	printf(",\"verdict\":\"%s\",\"allowed\":%s,\"rule\":", certpin_verdict_code_name(c),
	       certpin_verdict_allowed(v) ? "true" : "false");
	if (r != NULL)
		cli_json_string(stdout, certpin_rule_host(r));
	else
		printf("null");
	printf(",\"reason\":");
	cli_json_string(stdout, certpin_verdict_reason(v));
	printf(",\"chain\":[");
	for (size_t i = 0; i < certpin_verdict_chain_len(v); i++) {
		if (certpin_pin_format(certpin_verdict_chain_pin(v, i), pin, sizeof pin) == 0)
			pin[0] = '\0';
		certpin_err rc = certpin_verdict_chain_subject(v, i, subj, sizeof subj);
		if (rc != CERTPIN_OK && rc != CERTPIN_E_BUFFER)
			subj[0] = '\0';
		printf("%s{\"pin\":\"%s\",\"subject\":", i ? "," : "", pin);
		cli_json_string(stdout, subj);
		printf("}");
	}
	size_t need = certpin_verdict_format(v, NULL, 0);
	char *msg = malloc(need + 1);
	printf("],\"message\":");
	if (msg != NULL) {
		certpin_verdict_format(v, msg, need + 1);
		cli_json_string(stdout, msg);
		free(msg);
	} else {
		printf("null");
	}
	printf("}\n");
}

static void print_text(const certpin_verdict *v)
{
	size_t need = certpin_verdict_format(v, NULL, 0);
	char *msg = malloc(need + 1);
	if (msg == NULL) {
		cli_error("out of memory");
		return;
	}
	certpin_verdict_format(v, msg, need + 1);
	fputs(msg, stdout);
	free(msg);
	printf("verdict: %s\n", certpin_verdict_code_name(certpin_verdict_get_code(v)));
}

void cli_print_verdict(const certpin_verdict *v, int json)
{
	if (json)
		print_json(v);
	else
		print_text(v);
}
