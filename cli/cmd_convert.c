/*
 * certpin convert: between the certpin policy JSON and the pin
 * configurations of Android, iOS, TrustKit, OkHttp, curl and HPKP, through
 * the certpin_convert library (src/convert/).
 *
 * Nothing partial: the output is written only when the whole conversion
 * succeeded, to a temporary file renamed over OUT.
 */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "certpin/certpin.h"
#include "cli.h"
#include "convert.h"

static void convert_usage(FILE *f)
{
	fprintf(f,
	        "usage: certpin convert --from FORMAT --to FORMAT [-o OUT] [--lossy]\n"
	        "                       [--host HOST] [--at TIME] IN\n"
	        "\n"
	        "Converts pins between formats. IN may be - for standard input.\n"
	        "\n"
	        "formats (read and written):\n"
	        "  certpin         certpin policy JSON\n"
	        "  android-nsc     Android res/xml/network_security_config.xml\n"
	        "  ios-plist       Info.plist NSAppTransportSecurity/NSPinnedDomains (XML or binary\n"
	        "                  in, XML out)\n"
	        "  trustkit        TrustKit configuration as JSON\n"
	        "  okhttp          Kotlin CertificatePinner.Builder().add(...) calls\n"
	        "  curl            --pinnedpubkey string for one host (needs --host)\n"
	        "  hpkp            Public-Key-Pins header for one host (needs --host)\n"
	        "written only:\n"
	        "  trustkit-swift  the TrustKit configuration as a Swift dictionary literal\n"
	        "\n"
	        "  -o FILE      write to FILE instead of standard output\n"
	        "  --lossy      write what the target can express and list each loss on stderr\n"
	        "               (without it, a loss fails the conversion and lists them all)\n"
	        "  --host HOST  curl, hpkp: the host the pins are for\n"
	        "  --at TIME    hpkp: count max-age from TIME (RFC 3339 or YYYY-MM-DD; default now)\n"
	        "\n"
	        "Notes go to stderr as lines starting '# '.\n"
	        "exit: 0 converted, 4 unreadable or invalid input or a loss without --lossy,\n"
	        "      64 usage\n");
}

static int read_input(const char *path, char **data, size_t *len)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	if (f == NULL) {
		cli_error("%s: %s", path, strerror(errno));
		return -1;
	}
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap);
	int rc = buf ? 0 : -1;
	while (rc == 0) {
		if (n == cap) {
			if (cap > CV_MAX_INPUT) {
				cli_error("%s: larger than %u bytes", path, CV_MAX_INPUT);
				rc = -1;
				break;
			}
			char *nb = realloc(buf, cap * 2);
			if (nb == NULL) {
				rc = -1;
				break;
			}
			buf = nb;
			cap *= 2;
		}
		size_t got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (got == 0) {
			if (ferror(f)) {
				cli_error("%s: read error", path);
				rc = -1;
			}
			break;
		}
	}
	if (f != stdin)
		fclose(f);
	if (rc == 0 && n > CV_MAX_INPUT) {
		cli_error("%s: larger than %u bytes", path, CV_MAX_INPUT);
		rc = -1;
	}
	if (rc != 0) {
		free(buf);
		return -1;
	}
	*data = buf;
	*len = n;
	return 0;
}

static void print_log(const cv_log *log, int lossy)
{
	for (size_t i = 0; i < log->n; i++) {
		const cv_log_entry *e = &log->v[i];
		if (e->kind == CV_NOTE)
			fprintf(stderr, "%s%s\n", strncmp(e->text, "# ", 2) == 0 ? "" : "# ", e->text);
		else
			fprintf(stderr, "certpin: %s: %s\n", lossy ? "lossy" : "cannot express", e->text);
	}
}

/*
 * A certpin policy written to another directory than its input's: relative
 * pin_files would then point elsewhere, so they become absolute.
 */
static int rebase_pin_files(cv_policy *p, const char *in_dir, const char *out_path, cv_log *log)
{
	char out_copy[PATH_MAX], a[PATH_MAX], b[PATH_MAX];
	snprintf(out_copy, sizeof out_copy, "%s", out_path ? out_path : "./-");
	const char *out_dir = dirname(out_copy);
	if (realpath(in_dir, a) == NULL)
		return 0;
	if (realpath(out_dir, b) != NULL && strcmp(a, b) == 0)
		return 0;
	for (size_t i = 0; i < p->n; i++) {
		cv_rule *r = &p->rules[i];
		for (size_t k = 0; k < r->pin_files.n; k++) {
			char *f = r->pin_files.v[k];
			if (f[0] == '/')
				continue;
			char full[PATH_MAX * 2], abs[PATH_MAX];
			snprintf(full, sizeof full, "%s/%s", a, f);
			if (realpath(full, abs) == NULL)
				continue;
			char *c = strdup(abs);
			if (c == NULL)
				return -1;
			cv_log_add(log, CV_NOTE, "%s: pin file %s written as %s (the output is in "
			                         "another directory)",
			           r->host, f, abs);
			free(f);
			r->pin_files.v[k] = c;
		}
	}
	return 0;
}

static int write_output(const char *path, const cv_buf *b)
{
	if (path == NULL) {
		if (b->n != 0 && fwrite(b->p, 1, b->n, stdout) != b->n) {
			cli_error("cannot write to standard output");
			return -1;
		}
		return fflush(stdout) == 0 ? 0 : -1;
	}
	char tmp[PATH_MAX];
	if (snprintf(tmp, sizeof tmp, "%s.tmpXXXXXX", path) >= (int)sizeof tmp) {
		cli_error("%s: path too long", path);
		return -1;
	}
	int fd = mkstemp(tmp);
	if (fd < 0) {
		cli_error("%s: %s", path, strerror(errno));
		return -1;
	}
	FILE *f = fdopen(fd, "wb");
	int ok = f != NULL && (b->n == 0 || fwrite(b->p, 1, b->n, f) == b->n);
	if (f != NULL)
		ok &= fclose(f) == 0;
	else
		close(fd);
	if (!ok || rename(tmp, path) != 0) {
		cli_error("%s: %s", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

static void print_error(const certpin_error *err)
{
	char line[1024];
	certpin_error_format(err, line, sizeof line);
	cli_error("%s", line);
}

int cmd_convert(int argc, char **argv)
{
	static const struct option opts[] = {
		{"from", required_argument, NULL, 'f'}, {"to", required_argument, NULL, 't'},
		{"output", required_argument, NULL, 'o'}, {"lossy", no_argument, NULL, 'l'},
		{"host", required_argument, NULL, 'H'}, {"at", required_argument, NULL, 'a'},
		{"help", no_argument, NULL, 'h'},       {NULL, 0, NULL, 0},
	};
	const char *from = NULL, *to = NULL, *out = NULL, *host = NULL, *at = NULL;
	int lossy = 0, c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			from = optarg;
			break;
		case 't':
			to = optarg;
			break;
		case 'o':
			out = optarg;
			break;
		case 'l':
			lossy = 1;
			break;
		case 'H':
			host = optarg;
			break;
		case 'a':
			at = optarg;
			break;
		case 'h':
			convert_usage(stdout);
			return 0;
		default:
			cli_error("convert: unknown or incomplete option '%s' (see 'certpin convert "
			          "--help')",
			          argv[optind - 1]);
			return EXIT_USAGE;
		}
	}
	if (from == NULL || to == NULL || optind != argc - 1) {
		cli_error("convert: needs --from, --to and one input file (see 'certpin convert "
		          "--help')");
		return EXIT_USAGE;
	}
	int ff = cv_format_from_name(from), tf = cv_format_from_name(to);
	if (ff < 0 || !cv_format_can_import((cv_format)ff)) {
		cli_error("convert: --from %s: not a format that can be read (see 'certpin convert "
		          "--help')",
		          from);
		return EXIT_USAGE;
	}
	if (tf < 0) {
		cli_error("convert: --to %s: unknown format (see 'certpin convert --help')", to);
		return EXIT_USAGE;
	}
	int single_from = ff == CV_CURL || ff == CV_HPKP, single_to = tf == CV_CURL || tf == CV_HPKP;
	if ((single_from || single_to) && host == NULL) {
		cli_error("convert: %s pins are for one host: name it with --host",
		          single_from ? from : to);
		return EXIT_USAGE;
	}
	int64_t now = (int64_t)time(NULL);
	if (at != NULL) {
		certpin_error terr;
		if (certpin_time_parse(at, CERTPIN_TIME_DATE_START, &now, &terr) != CERTPIN_OK) {
			cli_error("convert: --at %s: %s", at, terr.message);
			return EXIT_USAGE;
		}
	}
	const char *in = argv[optind];
	char *data = NULL;
	size_t len = 0;
	if (read_input(in, &data, &len) != 0)
		return EXIT_INPUT;
	char dir_copy[PATH_MAX];
	snprintf(dir_copy, sizeof dir_copy, "%s", strcmp(in, "-") == 0 ? "./-" : in);
	const char *base_dir = dirname(dir_copy);

	cv_opts o;
	memset(&o, 0, sizeof o);
	o.lossy = lossy;
	o.host = host;
	o.now = now;
	o.name = strcmp(in, "-") == 0 ? "<stdin>" : in;
	o.base_dir = base_dir;
	cv_log log = {0};
	cv_policy *p = NULL;
	cv_buf buf = {0};
	certpin_error err;
	memset(&err, 0, sizeof err);
	int ret = EXIT_INPUT;
	certpin_err rc = cv_import((cv_format)ff, data, len, &o, &p, &log, &err);
	if (rc != CERTPIN_OK) {
		print_log(&log, lossy);
		print_error(&err);
		goto done;
	}
	if (tf == CV_CERTPIN && rebase_pin_files(p, base_dir, out, &log) != 0) {
		cli_error("out of memory");
		goto done;
	}
	rc = cv_export((cv_format)tf, p, &o, &buf, &log, &err);
	print_log(&log, lossy);
	if (rc != CERTPIN_OK) {
		if (err.file[0] == '\0')
			snprintf(err.file, sizeof err.file, "%s", o.name);
		print_error(&err);
		goto done;
	}
	if (write_output(out, &buf) == 0)
		ret = 0;
done:
	cv_buf_free(&buf);
	cv_policy_free(p);
	cv_log_free(&log);
	free(data);
	return ret;
}
