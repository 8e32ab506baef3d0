/* certpin command-line tool: shared declarations. Public API only. */
#ifndef CERTPIN_CLI_H
#define CERTPIN_CLI_H

#include <stdio.h>

/* Exit codes (ARCHITECTURE.md, "Command line"). */
enum {
	EXIT_ALLOWED = 0,
	EXIT_BLOCKED = 1,     /* blocked by pinning; lint: errors */
	EXIT_VALIDATION = 2,  /* certificate validation failed */
	EXIT_CONNECTION = 3,  /* connection/TLS error */
	EXIT_INPUT = 4,       /* policy error, unreadable input */
	EXIT_USAGE = 64,
};

/* Each subcommand: argv[0] is the subcommand name. Returns the exit code. */
int cmd_pin(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_lint(int argc, char **argv);

/* Prints "certpin: " + message + newline to stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints a JSON string literal (with quotes and escapes) to f. */
void cli_json_string(FILE *f, const char *s);

#endif
