/* RFC 3339 times and dates: parsing, formatting, calendar arithmetic. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "internal.h"

#define START CERTPIN_TIME_DATE_START
#define END   CERTPIN_TIME_DATE_END

struct time_case {
	const char *in;
	unsigned flags;
	certpin_err rc;
	int64_t want;    /* when rc == CERTPIN_OK */
	const char *msg; /* substring of the message when rc != CERTPIN_OK */
};

static void run(const struct time_case *t, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int64_t got = -12345;
		certpin_error err;
		memset(&err, 0, sizeof err);
		certpin_err rc = certpin_time_parse(t[i].in, t[i].flags, &got, &err);
		if (rc != t[i].rc)
			fail_msg("'%s' flags %u: expected %d, got %d (%s)", t[i].in, t[i].flags,
			         t[i].rc, rc, err.message);
		if (rc == CERTPIN_OK && got != t[i].want)
			fail_msg("'%s' flags %u: expected %lld, got %lld", t[i].in, t[i].flags,
			         (long long)t[i].want, (long long)got);
		if (rc != CERTPIN_OK && t[i].msg != NULL && strstr(err.message, t[i].msg) == NULL)
			fail_msg("'%s': message '%s' lacks '%s'", t[i].in, err.message, t[i].msg);
		if (rc != CERTPIN_OK && got != -12345)
			fail_msg("'%s': output written on error", t[i].in);
	}
}

#define TABLE(t) (t), sizeof(t) / sizeof((t)[0])

static void epoch_and_full_times_parse(void **state)
{
	(void)state;
	static const struct time_case t[] = {
	    {"1970-01-01T00:00:00Z", START, CERTPIN_OK, 0, NULL},
	    {"1970-01-01T00:00:00z", START, CERTPIN_OK, 0, NULL},
	    {"1970-01-01t00:00:00Z", START, CERTPIN_OK, 0, NULL},
	    {"1969-12-31T23:59:59Z", START, CERTPIN_OK, -1, NULL},
	    {"2027-06-01T12:00:00Z", START, CERTPIN_OK, 1811851200, NULL},
	    {"2027-06-01T12:00:00Z", END, CERTPIN_OK, 1811851200, NULL},
	    {"2016-12-31T23:59:59Z", START, CERTPIN_OK, 1483228799, NULL},
	    {"0000-01-01T00:00:00Z", START, CERTPIN_OK, -62167219200, NULL},
	    {"9999-12-31T23:59:59Z", START, CERTPIN_OK, 253402300799, NULL},
	};
	run(TABLE(t));
}

static void bare_date_means_start_or_first_second_past_the_day(void **state)
{
	(void)state;
	static const struct time_case t[] = {
	    {"1970-01-01", START, CERTPIN_OK, 0, NULL},
	    {"1970-01-01", END, CERTPIN_OK, 86400, NULL},
	    {"2027-06-01", START, CERTPIN_OK, 1811808000, NULL},
	    {"2027-06-01", END, CERTPIN_OK, 1811894400, NULL}, /* 2027-06-02T00:00:00Z */
	    {"2024-02-28", END, CERTPIN_OK, 1709164800, NULL}, /* 2024-02-29 */
	    {"2024-02-29", END, CERTPIN_OK, 1709251200, NULL}, /* 2024-03-01 */
	    {"9999-12-31", START, CERTPIN_OK, 253402214400, NULL},
	    {"9999-12-31", END, CERTPIN_OK, 253402300800, NULL},
	    {"2027-06-01", 2, CERTPIN_E_INVALID_ARG, 0, "flags"},
	};
	run(TABLE(t));
}

static void leap_days_follow_the_gregorian_rules(void **state)
{
	(void)state;
	static const struct time_case t[] = {
	    {"2024-02-29", START, CERTPIN_OK, 1709164800, NULL},
	    {"2000-02-29", START, CERTPIN_OK, 951782400, NULL},
	    {"2023-02-29", START, CERTPIN_E_TIME, 0, "day 29 out of range 01-28 for 2023-02"},
	    {"1900-02-29", START, CERTPIN_E_TIME, 0, "01-28"},
	    {"2024-02-30", START, CERTPIN_E_TIME, 0, "01-29"},
	    {"2024-02-29T12:00:00Z", START, CERTPIN_OK, 1709208000, NULL},
	    {"2023-02-29T12:00:00Z", START, CERTPIN_E_TIME, 0, "day 29"},
	};
	run(TABLE(t));
}

static void month_and_day_ranges_are_checked(void **state)
{
	(void)state;
	static const struct time_case t[] = {
	    {"2027-12-31", START, CERTPIN_OK, 1830211200, NULL},
	    {"2027-13-01", START, CERTPIN_E_TIME, 0, "month 13 out of range 01-12 at offset 5"},
	    {"2027-00-01", START, CERTPIN_E_TIME, 0, "month 00 out of range 01-12 at offset 5"},
	    {"2027-01-00", START, CERTPIN_E_TIME, 0, "day 00 out of range 01-31"},
	    {"2027-01-32", START, CERTPIN_E_TIME, 0, "day 32"},
	    {"2027-04-31", START, CERTPIN_E_TIME, 0, "01-30 for 2027-04"},
	    {"2027-6-01", START, CERTPIN_E_TIME, 0, "two-digit month at offset 5"},
	    {"27-06-01", START, CERTPIN_E_TIME, 0, "four-digit year"},
	    {"+2027-06-01", START, CERTPIN_E_TIME, 0, "four-digit year"},
	    {"12027-06-01", START, CERTPIN_E_TIME, 0, "expected '-' after the year at offset 4"},
	    {"2027/06/01", START, CERTPIN_E_TIME, 0, "expected '-' after the year"},
	};
	run(TABLE(t));
}

static void clock_fields_are_range_checked(void **state)
{
	(void)state;
	static const struct time_case t[] = {
	    {"2027-06-01T23:59:59Z", START, CERTPIN_OK, 1811894399, NULL},
	    {"2027-06-01T24:00:00Z", START, CERTPIN_E_TIME, 0,
	     "hour 24 out of range 00-23 at offset 11"},
	    {"2027-06-01T23:60:00Z", START, CERTPIN_E_TIME, 0, "minute 60 out of range"},
	    {"2027-06-01T23:59:61Z", START, CERTPIN_E_TIME, 0, "second 61 out of range 00-60"},
	    /* a leap second is :59 plus one */
	    {"2016-12-31T23:59:60Z", START, CERTPIN_OK, 1483228800, NULL},
	    {"2027-06-01T1:00:00Z", START, CERTPIN_E_TIME, 0, "two-digit hour"},
	    {"2027-06-01T12:00Z", START, CERTPIN_E_TIME, 0, "expected ':' after the minute"},
	    {"2027-06-01 12:00:00Z", START, CERTPIN_E_TIME, 0, "'T' before the time at offset 10"},
	};
	run(TABLE(t));
}

static void offsets_convert_to_utc(void **state)
{
	(void)state;
	static const struct time_case t[] = {
	    {"2027-06-01T12:00:00+05:30", START, CERTPIN_OK, 1811831400, NULL},
	    {"2027-06-01T12:00:00-08:00", START, CERTPIN_OK, 1811880000, NULL},
	    {"2027-06-01T12:00:00+00:00", START, CERTPIN_OK, 1811851200, NULL},
	    {"2027-06-01T12:00:00-00:00", START, CERTPIN_OK, 1811851200, NULL},
	    {"1970-01-01T00:00:00+23:59", START, CERTPIN_OK, -86340, NULL},
	    {"2027-06-01T12:00:00+24:00", START, CERTPIN_E_TIME, 0, "offset hour 24"},
	    {"2027-06-01T12:00:00+05:60", START, CERTPIN_E_TIME, 0, "offset minute 60"},
	    {"2027-06-01T12:00:00+0530", START, CERTPIN_E_TIME, 0, "':' after the offset hour"},
	    {"2027-06-01T12:00:00+5:30", START, CERTPIN_E_TIME, 0, "two-digit offset hour"},
	    {"2027-06-01T12:00:00", START, CERTPIN_E_TIME, 0, "expected 'Z' or an offset"},
	    {"2027-06-01T12:00:00UTC", START, CERTPIN_E_TIME, 0, "expected 'Z' or an offset"},
	};
	run(TABLE(t));
}

/* A deadline (DATE_END) rounds a fraction up: it is passed from that second on. */
static void fractional_deadline_rounds_up(void **state)
{
	(void)state;
	static const struct time_case t[] = {
	    {"2027-06-01T12:00:00.000Z", END, CERTPIN_OK, 1811851200, NULL},
	    {"2027-06-01T12:00:00.0Z", END, CERTPIN_OK, 1811851200, NULL},
	    {"2027-06-01T12:00:00.001Z", END, CERTPIN_OK, 1811851201, NULL},
	    {"2027-06-01T12:00:00.5Z", END, CERTPIN_OK, 1811851201, NULL},
	    {"2027-06-01T12:00:00.999999999Z", END, CERTPIN_OK, 1811851201, NULL},
	    {"2027-06-01T12:00:00.000000001+05:30", END, CERTPIN_OK, 1811831401, NULL},
	    {"2027-06-01T23:59:59.1Z", END, CERTPIN_OK, 1811894400, NULL},
	    {"2027-06-01T12:00:00.Z", END, CERTPIN_E_TIME, 0, "digits after '.' at offset 20"},
	    {"2027-06-01T12:00:00,5Z", END, CERTPIN_E_TIME, 0, "expected 'Z' or an offset"},
	};
	run(TABLE(t));
}

/*
 * A clock reading (DATE_START) rounds a fraction down: 00:00:00.999 is still
 * before 00:00:01, so a certificate valid from 00:00:01 is not yet valid
 * (x509-limbo rfc5280::validity::notbefore-fractional).
 */
static void fractional_clock_reading_rounds_down(void **state)
{
	(void)state;
	static const struct time_case t[] = {
	    {"2027-06-01T12:00:00.000Z", START, CERTPIN_OK, 1811851200, NULL},
	    {"2027-06-01T12:00:00.001Z", START, CERTPIN_OK, 1811851200, NULL},
	    {"2027-06-01T12:00:00.999999999Z", START, CERTPIN_OK, 1811851200, NULL},
	    {"2027-06-01T12:00:00.5+05:30", START, CERTPIN_OK, 1811831400, NULL},
	    {"2027-06-01T23:59:59.9Z", START, CERTPIN_OK, 1811894399, NULL},
	    {"2027-06-01T12:00:00.Z", START, CERTPIN_E_TIME, 0, "digits after '.' at offset 20"},
	};
	run(TABLE(t));
}

static void trailing_junk_and_empty_input_are_refused(void **state)
{
	(void)state;
	static const struct time_case t[] = {
	    {"", START, CERTPIN_E_TIME, 0, "empty"},
	    {"2027-06-01x", START, CERTPIN_E_TIME, 0, "offset 10"},
	    {"2027-06-01 ", START, CERTPIN_E_TIME, 0, "offset 10"},
	    {" 2027-06-01", START, CERTPIN_E_TIME, 0, "four-digit year"},
	    {"2027-06-01T", START, CERTPIN_E_TIME, 0, "two-digit hour at offset 11"},
	    {"2027-06-01T12:00:00Zjunk", START, CERTPIN_E_TIME, 0,
	     "unexpected text after the time at offset 20"},
	    {"2027-06-01T12:00:00Z ", START, CERTPIN_E_TIME, 0, "offset 20"},
	    {"2027-06-01T12:00:00+05:30:00", START, CERTPIN_E_TIME, 0, "offset 25"},
	    {"2027-06", START, CERTPIN_E_TIME, 0, "expected '-' after the month"},
	    {"now", START, CERTPIN_E_TIME, 0, "four-digit year"},
	};
	run(TABLE(t));

	/* Over-long input is refused without reading all of it. */
	char big[400];
	memset(big, '0', sizeof big);
	memcpy(big, "2027-06-01T12:00:00.", 20);
	big[sizeof big - 2] = 'Z';
	big[sizeof big - 1] = '\0';
	int64_t v;
	certpin_error err;
	assert_int_equal(certpin_time_parse(big, START, &v, &err), CERTPIN_E_TIME);
	assert_non_null(strstr(err.message, "longer than"));
	assert_int_equal(certpin_time_parse(NULL, START, &v, &err), CERTPIN_E_INVALID_ARG);
	assert_int_equal(certpin_time_parse("2027-06-01", START, NULL, &err),
	                 CERTPIN_E_INVALID_ARG);
	assert_int_equal(certpin_time_parse("x", START, &v, NULL), CERTPIN_E_TIME);
}

static void format_writes_utc_and_refuses_what_it_cannot_write(void **state)
{
	(void)state;
	char buf[32];
	assert_int_equal(certpin_time_format(0, buf, sizeof buf), 20);
	assert_string_equal(buf, "1970-01-01T00:00:00Z");
	assert_int_equal(certpin_time_format(-1, buf, sizeof buf), 20);
	assert_string_equal(buf, "1969-12-31T23:59:59Z");
	assert_int_equal(certpin_time_format(1811894400, buf, 21), 20);
	assert_string_equal(buf, "2027-06-02T00:00:00Z");
	assert_int_equal(certpin_time_format(253402300799, buf, sizeof buf), 20);
	assert_string_equal(buf, "9999-12-31T23:59:59Z");
	assert_int_equal(certpin_time_format(-62167219200, buf, sizeof buf), 20);
	assert_string_equal(buf, "0000-01-01T00:00:00Z");
	/* out of the four-digit years, or too small a buffer: 0 and "" */
	assert_int_equal(certpin_time_format(253402300800, buf, sizeof buf), 0);
	assert_string_equal(buf, "");
	assert_int_equal(certpin_time_format(-62167219201, buf, sizeof buf), 0);
	assert_int_equal(certpin_time_format(INT64_MIN, buf, sizeof buf), 0);
	assert_int_equal(certpin_time_format(INT64_MAX, buf, sizeof buf), 0);
	assert_int_equal(certpin_time_format(0, buf, 20), 0);
	assert_string_equal(buf, "");
	assert_int_equal(certpin_time_format(0, NULL, 0), 0);
}

static void format_and_parse_round_trip(void **state)
{
	(void)state;
	static const int64_t times[] = {
	    0,          -1,         1,          86399,        86400,        951782400,   1709164800,
	    1811831401, 1483228799, 4102444800, 253402300799, -62167219200, -2208988800, 68169600};
	for (size_t i = 0; i < sizeof times / sizeof times[0]; i++) {
		char buf[21];
		int64_t back;
		assert_int_equal(certpin_time_format(times[i], buf, sizeof buf), 20);
		assert_int_equal(certpin_time_parse(buf, START, &back, NULL), CERTPIN_OK);
		assert_int_equal(back, times[i]);
	}
}

static void days_from_civil_counts_every_day_of_years_0000_to_9999(void **state)
{
	(void)state;
	static const unsigned dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	assert_int_equal(cp_days_from_civil(1970, 1, 1), 0);
	assert_int_equal(cp_days_from_civil(2000, 3, 1), 11017);
	assert_int_equal(cp_days_from_civil(1969, 12, 31), -1);
	int64_t expect = cp_days_from_civil(0, 1, 1);
	assert_int_equal(expect, -719528);
	char date[16];
	for (unsigned y = 0; y <= 9999; y++) {
		int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
		for (unsigned m = 1; m <= 12; m++) {
			unsigned last = dim[m - 1] + (m == 2 && leap ? 1u : 0u);
			for (unsigned d = 1; d <= last; d++) {
				if (cp_days_from_civil(y, m, d) != expect)
					fail_msg("%04u-%02u-%02u: %lld, expected %lld", y, m, d,
					         (long long)cp_days_from_civil(y, m, d),
					         (long long)expect);
				expect++;
			}
			/* the first of each month also parses and formats back */
			snprintf(date, sizeof date, "%04u-%02u-01", y, m);
			int64_t t;
			char buf[21];
			assert_int_equal(certpin_time_parse(date, START, &t, NULL), CERTPIN_OK);
			assert_int_equal(certpin_time_format(t, buf, sizeof buf), 20);
			assert_memory_equal(buf, date, 10);
		}
	}
	assert_int_equal(expect, cp_days_from_civil(10000, 1, 1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(epoch_and_full_times_parse),
	    cmocka_unit_test(bare_date_means_start_or_first_second_past_the_day),
	    cmocka_unit_test(leap_days_follow_the_gregorian_rules),
	    cmocka_unit_test(month_and_day_ranges_are_checked),
	    cmocka_unit_test(clock_fields_are_range_checked),
	    cmocka_unit_test(offsets_convert_to_utc),
	    cmocka_unit_test(fractional_deadline_rounds_up),
	    cmocka_unit_test(fractional_clock_reading_rounds_down),
	    cmocka_unit_test(trailing_junk_and_empty_input_are_refused),
	    cmocka_unit_test(format_writes_utc_and_refuses_what_it_cannot_write),
	    cmocka_unit_test(format_and_parse_round_trip),
	    cmocka_unit_test(days_from_civil_counts_every_day_of_years_0000_to_9999),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
