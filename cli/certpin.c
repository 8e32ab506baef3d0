/* certpin: dispatch to one subcommand per file. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "certpin/certpin.h"
#include "cli.h"

static const struct command {
	const char *name;
	int (*run)(int, char **);
	const char *summary;
} commands[] = {
	{"pin", cmd_pin, "print the pins of certificates, keys and CSRs"},
	{"eval", cmd_eval, "validate a chain offline and evaluate a policy on it"},
	{"lint", cmd_lint, "check a policy for errors and risky rules"},
	{"probe", cmd_probe, "show a server's chains and their pins"},
	{"check", cmd_check, "handshake with a server under a policy"},
	{"attack", cmd_attack, "attack a client program with man-in-the-middle scenarios"},
	{"convert", cmd_convert, "convert pins to and from Android, iOS, TrustKit, OkHttp, curl, HPKP"},
	{"bundle", cmd_bundle, "sign, verify and inspect pin bundles; keygen; add-domain"},
};

void cli_error(const char *fmt, ...)
{
	va_list ap;
	fputs("certpin: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void cli_json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
		switch (*p) {
		case '"':
			fputs("\\\"", f);
			break;
		case '\\':
			fputs("\\\\", f);
			break;
		case '\n':
			fputs("\\n", f);
			break;
		case '\t':
			fputs("\\t", f);
			break;
		default:
			if (*p < 0x20)
				fprintf(f, "\\u%04x", *p);
			else
				fputc(*p, f);
			break;
		}
	}
	fputc('"', f);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: certpin COMMAND [ARGS...]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		fprintf(f, "  %-7s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\n'certpin COMMAND --help' shows a command's options.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("certpin %s\n", certpin_version());
		return 0;
	}
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].run(argc - 1, argv + 1);
	cli_error("unknown command '%s' (try 'certpin --help')", argv[1]);
	return EXIT_USAGE;
}
