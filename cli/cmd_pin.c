/*
 * certpin pin: the pins of every certificate, public key, private key, CSR
 * and PKCS#12 in PEM or DER files, one line each, or as JSON.
 *
 * A bad file stops the run (exit 4) before anything of it is printed; with
 * --json nothing at all is printed unless every file was read, so stdout is
 * always either a whole JSON document or empty.
 */
#include <errno.h>
#include <getopt.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certpin/certpin.h"
#include "cli.h"

/* Longest password (certpin_objects_from_mem refuses longer ones). */
#define PIN_MAX_PASSWORD 1023u

static void pin_usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: certpin pin [-q] [--cert] [--json] [--passin PASS|env:VAR|file:PATH] FILE...\n"
	    "\n"
	    "Prints the SPKI pin of every certificate, public key, private key, CSR and\n"
	    "PKCS#12 entry in each PEM or DER FILE ('-' reads stdin), one per line:\n"
	    "the pin, two spaces, then the subject (certificates, CSRs) or the key type.\n"
	    "\n"
	    "  -q, --quiet     pins only\n"
	    "  --cert          whole-certificate pins (cert-sha256/...) of the certificates;\n"
	    "                  a file without a certificate is an error\n"
	    "  --json          a JSON array of objects on stdout (-q has no effect)\n"
	    "  --passin ARG    password of encrypted keys and PKCS#12 files: PASS (or\n"
	    "                  pass:PASS), env:VAR, or file:PATH (its first line)\n"
	    "  -h, --help      this text\n"
	    "\n"
	    "exit: 0 done, 4 unreadable or unparsable input, 64 usage\n");
}

typedef struct pin_opts {
	int quiet;
	int cert;
	int json;
} pin_opts;

/* One file that was read, kept for --json output. */
typedef struct pin_file {
	const char *arg; /* as given on the command line */
	certpin_object_list *list;
} pin_file;

static void wipe_free(char *s)
{
	if (s == NULL)
		return;
	OPENSSL_cleanse(s, strlen(s));
	free(s);
}

/*
 * Resolves --passin into a malloc'd password. Returns 0, or the exit code
 * after printing why.
 */
static int get_password(const char *arg, char **out)
{
	*out = NULL;
	const char *pw = arg;
	if (strncmp(arg, "env:", 4) == 0) {
		pw = getenv(arg + 4);
		if (pw == NULL) {
			cli_error("--passin: environment variable '%s' is not set", arg + 4);
			return EXIT_USAGE;
		}
	} else if (strncmp(arg, "file:", 5) == 0) {
		const char *path = arg + 5;
		FILE *f = fopen(path, "rb");
		if (f == NULL) {
			cli_error("--passin: %s: %s", path, strerror(errno));
			return EXIT_INPUT;
		}
		char buf[PIN_MAX_PASSWORD + 3];
		size_t n = fread(buf, 1, sizeof buf - 1, f);
		int bad = ferror(f);
		fclose(f);
		if (bad) {
			OPENSSL_cleanse(buf, sizeof buf);
			cli_error("--passin: %s: read error", path);
			return EXIT_INPUT;
		}
		buf[n] = '\0';
		size_t len = strcspn(buf, "\n");
		if (len > 0 && buf[len - 1] == '\r')
			len--;
		buf[len] = '\0';
		if (len > PIN_MAX_PASSWORD || memchr(buf, '\0', len) != NULL) {
			OPENSSL_cleanse(buf, sizeof buf);
			cli_error("--passin: %s: password is longer than %u bytes", path,
			          PIN_MAX_PASSWORD);
			return EXIT_USAGE;
		}
		*out = strdup(buf);
		OPENSSL_cleanse(buf, sizeof buf);
		if (*out == NULL) {
			cli_error("out of memory");
			return EXIT_INPUT;
		}
		return 0;
	} else if (strncmp(arg, "pass:", 5) == 0) {
		pw = arg + 5;
	}
	if (strlen(pw) > PIN_MAX_PASSWORD) {
		cli_error("--passin: password is longer than %u bytes", PIN_MAX_PASSWORD);
		return EXIT_USAGE;
	}
	*out = strdup(pw);
	if (*out == NULL) {
		cli_error("out of memory");
		return EXIT_INPUT;
	}
	return 0;
}

/* Reads stdin (at most the library's cap) and parses it. */
static certpin_err read_stdin(const char *password, certpin_object_list **out, certpin_error *err)
{
	uint8_t *buf = malloc(CERTPIN_MAX_FILE_SIZE + 1);
	if (buf == NULL) {
		snprintf(err->message, sizeof err->message, "<stdin>: out of memory");
		return CERTPIN_E_NOMEM;
	}
	size_t n = 0;
	while (n < CERTPIN_MAX_FILE_SIZE + 1) {
		size_t got = fread(buf + n, 1, CERTPIN_MAX_FILE_SIZE + 1 - n, stdin);
		if (got == 0)
			break;
		n += got;
	}
	certpin_err rc;
	if (ferror(stdin)) {
		snprintf(err->message, sizeof err->message, "<stdin>: %s", strerror(errno));
		rc = CERTPIN_E_IO;
	} else {
		/* over the cap: the library says so, naming the input */
		rc = certpin_objects_from_mem(buf, n, "<stdin>", password, out, err);
	}
	OPENSSL_cleanse(buf, n);
	free(buf);
	return rc;
}

static const char *kind_name(certpin_object_kind k)
{
	switch (k) {
	case CERTPIN_OBJ_CERT:
		return "certificate";
	case CERTPIN_OBJ_PUBKEY:
		return "public-key";
	case CERTPIN_OBJ_PRIVKEY:
		return "private-key";
	case CERTPIN_OBJ_CSR:
		return "csr";
	default:
		return "unknown";
	}
}

/* 1 when the object is printed under the options. */
static int selected(const pin_opts *o, const certpin_object *obj)
{
	return !o->cert || obj->kind == CERTPIN_OBJ_CERT;
}

static int print_text(const pin_opts *o, const certpin_object_list *l)
{
	for (size_t i = 0; i < certpin_object_list_count(l); i++) {
		const certpin_object *obj = certpin_object_list_get(l, i);
		if (obj == NULL || !selected(o, obj))
			continue;
		char pin[CERTPIN_PIN_STRLEN];
		if (certpin_pin_format(o->cert ? &obj->cert_pin : &obj->spki_pin, pin,
		                       sizeof pin) == 0) {
			cli_error("internal error: cannot format a pin");
			return -1;
		}
		const char *label = obj->key_type;
		if ((obj->kind == CERTPIN_OBJ_CERT || obj->kind == CERTPIN_OBJ_CSR) &&
		    obj->subject[0] != '\0')
			label = obj->subject;
		if (o->quiet)
			printf("%s\n", pin);
		else
			printf("%s  %s\n", pin, label);
	}
	return 0;
}

static int print_json(const pin_opts *o, const pin_file *files, size_t n)
{
	int first = 1;
	printf("[");
	for (size_t f = 0; f < n; f++) {
		for (size_t i = 0; i < certpin_object_list_count(files[f].list); i++) {
			const certpin_object *obj = certpin_object_list_get(files[f].list, i);
			if (obj == NULL || !selected(o, obj))
				continue;
			char pin[CERTPIN_PIN_STRLEN], cert_pin[CERTPIN_PIN_STRLEN];
			if (certpin_pin_format(&obj->spki_pin, pin, sizeof pin) == 0 ||
			    (obj->kind == CERTPIN_OBJ_CERT &&
			     certpin_pin_format(&obj->cert_pin, cert_pin, sizeof cert_pin) == 0)) {
				cli_error("internal error: cannot format a pin");
				return -1;
			}
			printf("%s\n  {\"file\": ", first ? "" : ",");
			first = 0;
			cli_json_string(stdout, files[f].arg);
			printf(", \"kind\": \"%s\", \"pin\": \"%s\"", kind_name(obj->kind), pin);
			if (obj->kind == CERTPIN_OBJ_CERT)
				printf(", \"cert_pin\": \"%s\"", cert_pin);
			printf(", \"subject\": ");
			cli_json_string(stdout, obj->subject);
			printf(", \"key_type\": ");
			cli_json_string(stdout, obj->key_type);
			printf(", \"is_ca\": %s, \"self_signed\": %s, \"line\": %u}",
			       obj->is_ca ? "true" : "false", obj->self_signed ? "true" : "false",
			       obj->line);
		}
	}
	printf("%s]\n", first ? "" : "\n");
	return 0;
}

static size_t count_certs(const certpin_object_list *l)
{
	size_t n = 0;
	for (size_t i = 0; i < certpin_object_list_count(l); i++) {
		const certpin_object *obj = certpin_object_list_get(l, i);
		if (obj != NULL && obj->kind == CERTPIN_OBJ_CERT)
			n++;
	}
	return n;
}

int cmd_pin(int argc, char **argv)
{
	enum { OPT_CERT = 256, OPT_JSON, OPT_PASSIN };
	static const struct option longopts[] = {
	    {"quiet", no_argument, NULL, 'q'},     {"cert", no_argument, NULL, OPT_CERT},
	    {"json", no_argument, NULL, OPT_JSON}, {"passin", required_argument, NULL, OPT_PASSIN},
	    {"help", no_argument, NULL, 'h'},      {NULL, 0, NULL, 0},
	};
	pin_opts o = {0, 0, 0};
	const char *passin = NULL;
	int c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":qh", longopts, NULL)) != -1) {
		switch (c) {
		case 'q':
			o.quiet = 1;
			break;
		case OPT_CERT:
			o.cert = 1;
			break;
		case OPT_JSON:
			o.json = 1;
			break;
		case OPT_PASSIN:
			passin = optarg;
			break;
		case 'h':
			pin_usage(stdout);
			return EXIT_ALLOWED;
		case ':':
			cli_error("pin: option '%s' needs an argument (try 'certpin pin --help')",
			          argv[optind - 1]);
			return EXIT_USAGE;
		case '?':
		default:
			if (optopt != 0 && optopt < 256)
				cli_error("pin: unknown option '-%c' (try 'certpin pin --help')",
				          optopt);
			else
				cli_error("pin: unknown option '%s' (try 'certpin pin --help')",
				          argv[optind - 1]);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		cli_error("pin: no FILE given (try 'certpin pin --help')");
		return EXIT_USAGE;
	}

	char *password = NULL;
	if (passin != NULL) {
		int rc = get_password(passin, &password);
		if (rc != 0)
			return rc;
	}

	size_t nfiles = (size_t)(argc - optind);
	pin_file *files = calloc(nfiles, sizeof *files);
	if (files == NULL) {
		wipe_free(password);
		cli_error("out of memory");
		return EXIT_INPUT;
	}
	int status = EXIT_ALLOWED;
	for (size_t i = 0; i < nfiles; i++) {
		const char *arg = argv[optind + (int)i];
		certpin_error err;
		memset(&err, 0, sizeof err);
		certpin_err rc =
		    strcmp(arg, "-") == 0
		        ? read_stdin(password, &files[i].list, &err)
		        : certpin_objects_from_file(arg, password, &files[i].list, &err);
		files[i].arg = arg;
		if (rc != CERTPIN_OK) {
			char line[512];
			certpin_error_format(&err, line, sizeof line);
			cli_error("%s", line);
			status = EXIT_INPUT;
			break;
		}
		if (o.cert && count_certs(files[i].list) == 0) {
			cli_error("%s: no certificate in the file (--cert needs one)",
			          strcmp(arg, "-") == 0 ? "<stdin>" : arg);
			status = EXIT_INPUT;
			break;
		}
		if (!o.json && print_text(&o, files[i].list) != 0) {
			status = EXIT_INPUT;
			break;
		}
	}
	if (status == EXIT_ALLOWED && o.json && print_json(&o, files, nfiles) != 0)
		status = EXIT_INPUT;
	if (fflush(stdout) != 0 || ferror(stdout)) {
		cli_error("cannot write the output: %s", strerror(errno));
		status = EXIT_INPUT;
	}
	for (size_t i = 0; i < nfiles; i++)
		certpin_object_list_free(files[i].list);
	free(files);
	wipe_free(password);
	return status;
}
