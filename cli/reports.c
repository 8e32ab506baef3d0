/*
 * --report-to FILE of check and attack: a reporter that never sends
 * (CERTPIN_REPORTER_NO_SEND) whose callback keeps every report's JSON, and
 * the file those reports go to: one object, an array when there are several
 * ([] when there are none, so that a script can always parse the file).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certpin/certpin.h"
#include "certpin/certpin_report.h"
#include "cli.h"

/* Runs on the reporter thread; cli_reports_write reads after a flush. */
static certpin_report_action keep(certpin_report *rep, void *arg)
{
	struct cli_reports *cr = arg;
	const char *json = certpin_report_json(rep);
	char *copy = json != NULL ? strdup(json) : NULL;
	pthread_mutex_lock(&cr->mu);
	if (copy == NULL) {
		cr->lost++;
	} else if (cr->n == cr->cap) {
		size_t ncap = cr->cap ? cr->cap * 2 : 8;
		char **nv = realloc(cr->v, ncap * sizeof *nv);
		if (nv == NULL) {
			free(copy);
			cr->lost++;
		} else {
			cr->v = nv;
			cr->cap = ncap;
			cr->v[cr->n++] = copy;
		}
	} else {
		cr->v[cr->n++] = copy;
	}
	pthread_mutex_unlock(&cr->mu);
	return CERTPIN_REPORT_SEND; /* to nowhere: NO_SEND */
}

int cli_reports_begin(struct cli_reports *cr, const char *cmd)
{
	memset(cr, 0, sizeof *cr);
	pthread_mutex_init(&cr->mu, NULL);
	char app[64];
	snprintf(app, sizeof app, "certpin %s", cmd);
	certpin_reporter_config cfg;
	memset(&cfg, 0, sizeof cfg);
	cfg.app_id = app;
	cfg.app_version = certpin_version();
	cfg.flags = CERTPIN_REPORTER_NO_SEND;
	cfg.queue_max = CERTPIN_REPORT_QUEUE_MAX; /* a CLI run never drops */
	cfg.callback = keep;
	cfg.callback_arg = cr;
	certpin_error err;
	if (certpin_reporter_new(&cfg, &cr->r, &err) != CERTPIN_OK) {
		cli_error("%s: cannot start the reporter: %s", cmd, err.message);
		pthread_mutex_destroy(&cr->mu);
		return EXIT_CONNECTION;
	}
	return 0;
}

int cli_reports_write(struct cli_reports *cr, const char *cmd, const char *path)
{
	if (certpin_reporter_flush(cr->r, 30000) != CERTPIN_OK) {
		cli_error("%s: the reports were not ready within 30 s", cmd);
		return EXIT_INPUT;
	}
	FILE *f = fopen(path, "w");
	if (f == NULL) {
		cli_error("%s: cannot write %s", cmd, path);
		return EXIT_INPUT;
	}
	pthread_mutex_lock(&cr->mu);
	if (cr->n == 1) {
		fprintf(f, "%s\n", cr->v[0]);
	} else {
		fprintf(f, "[");
		for (size_t i = 0; i < cr->n; i++)
			fprintf(f, "%s\n  %s", i ? "," : "", cr->v[i]);
		fprintf(f, "%s]\n", cr->n ? "\n" : "");
	}
	size_t lost = cr->lost;
	pthread_mutex_unlock(&cr->mu);
	if (fclose(f) != 0) {
		cli_error("%s: cannot write %s", cmd, path);
		return EXIT_INPUT;
	}
	if (lost > 0) {
		cli_error("%s: %zu report(s) lost (out of memory)", cmd, lost);
		return EXIT_INPUT;
	}
	return 0;
}

void cli_reports_end(struct cli_reports *cr)
{
	certpin_reporter_free(cr->r);
	for (size_t i = 0; i < cr->n; i++)
		free(cr->v[i]);
	free(cr->v);
	pthread_mutex_destroy(&cr->mu);
	memset(cr, 0, sizeof *cr);
}
