/*
 * RFC 3339 times and bare dates, in plain integer arithmetic: no timegm(),
 * mktime(), locale or TZ, so the result is the same on every platform.
 * Calendar conversion is Howard Hinnant's days_from_civil / civil_from_days
 * (http://howardhinnant.github.io/date_algorithms.html), proleptic Gregorian.
 */
#include <stdio.h>
#include <string.h>

#include "internal.h"

/* Longer input than this is refused (fractions may be long, but not this). */
#define TIME_INPUT_MAX 128

int64_t cp_days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;                          /* [0, 399] */
	int64_t mp = m > 2 ? (int64_t)m - 3 : (int64_t)m + 9; /* March = 0 */
	int64_t doy = (153 * mp + 2) / 5 + (int64_t)d - 1;    /* [0, 365] */
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;  /* [0, 146096] */
	return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;                                      /* [0, 146096] */
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);               /* [0, 365] */
	int64_t mp = (5 * doy + 2) / 153;                                    /* [0, 11] */
	*d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
	*m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

static int is_leap(unsigned y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned days_in_month(unsigned y, unsigned m)
{
	static const unsigned dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (m < 1 || m > 12)
		return 0;
	if (m == 2 && is_leap(y))
		return 29;
	return dim[m - 1];
}

/* A cursor over the input with the position for messages. */
struct cur {
	const char *s;
	size_t n;
	size_t i;
};

/* Reads exactly `count` decimal digits. */
static int digits(struct cur *c, size_t count, unsigned *val)
{
	unsigned v = 0;
	if (c->n - c->i < count)
		return 0;
	for (size_t k = 0; k < count; k++) {
		char ch = c->s[c->i + k];
		if (ch < '0' || ch > '9')
			return 0;
		v = v * 10 + (unsigned)(ch - '0');
	}
	c->i += count;
	*val = v;
	return 1;
}

static int take(struct cur *c, char a, char b)
{
	if (c->i < c->n && (c->s[c->i] == a || c->s[c->i] == b)) {
		c->i++;
		return 1;
	}
	return 0;
}

/* Reads a two-digit field in [min, max], naming it in the error. */
static certpin_err field(struct cur *c, const char *name, unsigned min, unsigned max, unsigned *val,
                         certpin_error *err)
{
	size_t at = c->i;
	if (!digits(c, 2, val))
		return cp_err_set(err, CERTPIN_E_TIME, "expected a two-digit %s at offset %zu",
		                  name, at);
	if (*val < min || *val > max)
		return cp_err_set(err, CERTPIN_E_TIME,
		                  "%s %02u out of range %02u-%02u at offset %zu", name, *val, min,
		                  max, at);
	return CERTPIN_OK;
}

static certpin_err expect(struct cur *c, char ch, const char *after, certpin_error *err)
{
	if (!take(c, ch, ch))
		return cp_err_set(err, CERTPIN_E_TIME, "expected '%c' after the %s at offset %zu",
		                  ch, after, c->i);
	return CERTPIN_OK;
}

certpin_err certpin_time_parse(const char *s, unsigned flags, int64_t *out, certpin_error *err)
{
	if (s == NULL || out == NULL)
		return cp_err_set(err, CERTPIN_E_INVALID_ARG, "NULL argument");
	if ((flags & ~(unsigned)CERTPIN_TIME_DATE_END) != 0)
		return cp_err_set(err, CERTPIN_E_INVALID_ARG, "unknown time flags 0x%x", flags);

	struct cur c = {s, strnlen(s, TIME_INPUT_MAX + 1), 0};
	unsigned year, month, day, hour, min, sec, oh = 0, om = 0;
	int64_t extra = 0, offset = 0;

	if (c.n == 0)
		return cp_err_set(
		    err, CERTPIN_E_TIME,
		    "empty date or time (expected YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ)");
	if (c.n > TIME_INPUT_MAX)
		return cp_err_set(err, CERTPIN_E_TIME, "date or time is longer than %d characters",
		                  TIME_INPUT_MAX);
	if (!digits(&c, 4, &year))
		return cp_err_set(err, CERTPIN_E_TIME,
		                  "expected a four-digit year at offset 0 (YYYY-MM-DD or "
		                  "YYYY-MM-DDTHH:MM:SSZ)");
	CP_GUARD(expect(&c, '-', "year", err));
	CP_GUARD(field(&c, "month", 1, 12, &month, err));
	CP_GUARD(expect(&c, '-', "month", err));
	size_t at = c.i;
	unsigned dim = days_in_month(year, month);
	CP_GUARD(field(&c, "day", 1, 31, &day, err));
	if (day > dim)
		return cp_err_set(err, CERTPIN_E_TIME,
		                  "day %02u out of range 01-%02u for %04u-%02u at offset %zu", day,
		                  dim, year, month, at);
	int64_t days = cp_days_from_civil(year, month, day);

	if (c.i == c.n) {
		if (flags & CERTPIN_TIME_DATE_END)
			days++;
		*out = days * 86400;
		return CERTPIN_OK;
	}
	if (!take(&c, 'T', 't'))
		return cp_err_set(err, CERTPIN_E_TIME,
		                  "expected end of date or 'T' before the time at offset %zu", c.i);
	CP_GUARD(field(&c, "hour", 0, 23, &hour, err));
	CP_GUARD(expect(&c, ':', "hour", err));
	CP_GUARD(field(&c, "minute", 0, 59, &min, err));
	CP_GUARD(expect(&c, ':', "minute", err));
	/* 60 is a leap second: the same instant as :00 of the next minute here. */
	CP_GUARD(field(&c, "second", 0, 60, &sec, err));
	if (take(&c, '.', '.')) {
		size_t start = c.i;
		while (c.i < c.n && c.s[c.i] >= '0' && c.s[c.i] <= '9') {
			/* a deadline is passed from the next whole second; a clock
			 * reading is still in the second it started */
			if (c.s[c.i] != '0' && (flags & CERTPIN_TIME_DATE_END))
				extra = 1;
			c.i++;
		}
		if (c.i == start)
			return cp_err_set(err, CERTPIN_E_TIME,
			                  "expected digits after '.' at offset %zu", start);
	}
	if (take(&c, 'Z', 'z')) {
		offset = 0;
	} else if (c.i < c.n && (c.s[c.i] == '+' || c.s[c.i] == '-')) {
		int64_t sign = c.s[c.i] == '-' ? -1 : 1;
		c.i++;
		CP_GUARD(field(&c, "offset hour", 0, 23, &oh, err));
		CP_GUARD(expect(&c, ':', "offset hour", err));
		CP_GUARD(field(&c, "offset minute", 0, 59, &om, err));
		offset = sign * ((int64_t)oh * 3600 + (int64_t)om * 60);
	} else {
		return cp_err_set(err, CERTPIN_E_TIME,
		                  "expected 'Z' or an offset (+HH:MM, -HH:MM) at offset %zu", c.i);
	}
	if (c.i != c.n)
		return cp_err_set(err, CERTPIN_E_TIME,
		                  "unexpected text after the time at offset %zu", c.i);
	/* Local time minus its offset from UTC is UTC. */
	*out =
	    days * 86400 + (int64_t)hour * 3600 + (int64_t)min * 60 + (int64_t)sec + extra - offset;
	return CERTPIN_OK;
}

size_t certpin_time_format(int64_t t, char *buf, size_t n)
{
	/* Years 0000-9999 only: the format has four year digits. */
	static const int64_t lo = -62167219200; /* 0000-01-01T00:00:00Z */
	static const int64_t hi = 253402300800; /* 10000-01-01T00:00:00Z */
	if (buf == NULL || n == 0)
		return 0;
	buf[0] = '\0';
	if (t < lo || t >= hi || n < 21)
		return 0;
	int64_t days = t / 86400, rem = t % 86400;
	if (rem < 0) {
		rem += 86400;
		days--;
	}
	int64_t y;
	unsigned m, d;
	civil_from_days(days, &y, &m, &d);
	unsigned hh = (unsigned)(rem / 3600), mm = (unsigned)(rem / 60 % 60),
	         ss = (unsigned)(rem % 60);
	int len = snprintf(buf, n, "%04u-%02u-%02uT%02u:%02u:%02uZ", (unsigned)y, m, d, hh, mm, ss);
	if (len != 20) {
		buf[0] = '\0';
		return 0;
	}
	return 20;
}
