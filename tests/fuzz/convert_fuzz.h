/*
 * Shared body of the converter fuzz targets (fuzz_convert_*.c): one
 * importer on the input, then the invariants every importer keeps.
 *
 *  - failure: no model, err.code == the result, a message, the input's
 *    name as the file;
 *  - success: the model exports to the certpin policy JSON (--lossy), that
 *    JSON imports again, and the two models are equal once normalised (what
 *    an importer accepts, certpin can hold and read back unchanged); the
 *    model also exports to its own format with --lossy without failing.
 *
 * Files (pin_files, Android @raw/) resolve under a directory that does not
 * exist, so the fuzzer never reads the machine's files.
 */
#ifndef CERTPIN_CONVERT_FUZZ_H
#define CERTPIN_CONVERT_FUZZ_H

#include <string.h>

#include "convert.h"
#include "fuzz.h"

static inline void fuzz_convert_one(cv_format f, const uint8_t *data, size_t size)
{
	cv_opts o;
	memset(&o, 0, sizeof o);
	o.name = "fuzz";
	o.base_dir = "/nonexistent-certpin-fuzz";
	o.host = "api.example.com";
	o.now = 1798761600;
	o.lossy = size > 0 && (data[0] & 1);
	cv_log log = {0};
	cv_policy *p = NULL;
	certpin_error err;
	memset(&err, 0, sizeof err);
	certpin_err rc = cv_import(f, (const char *)data, size, &o, &p, &log, &err);
	if (rc != CERTPIN_OK) {
		CHECK(p == NULL);
		CHECK(err.code == rc);
		CHECK(err.message[0] != '\0');
		CHECK(err.file[0] == '\0' || strcmp(err.file, "fuzz") == 0);
		cv_log_free(&log);
		return;
	}
	CHECK(p != NULL);
	o.lossy = 1;
	cv_buf json = {0};
	rc = cv_export(CV_CERTPIN, p, &o, &json, &log, &err);
	CHECK(rc == CERTPIN_OK);
	cv_policy *back = NULL;
	rc = cv_import(CV_CERTPIN, json.p, json.n, &o, &back, &log, &err);
	CHECK(rc == CERTPIN_OK);
	cv_buf same = {0};
	rc = cv_export(f, p, &o, &same, &log, &err);
	CHECK(rc == CERTPIN_OK || ((f == CV_CURL || f == CV_HPKP) && rc == CERTPIN_E_SCHEMA));
	cv_normalise(p);
	cv_normalise(back);
	CHECK(cv_equal(p, back));
	cv_buf_free(&same);
	cv_buf_free(&json);
	cv_policy_free(back);
	cv_policy_free(p);
	cv_log_free(&log);
}

#define FUZZ_CONVERT_TARGET(format)                                                                \
	int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)                               \
	{                                                                                          \
		fuzz_convert_one(format, data, size);                                              \
		return 0;                                                                          \
	}

#endif
