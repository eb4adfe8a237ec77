/*
 * log.c - hostflow.plugin's log lines, in the form of netdata's own
 * (libnetdata/log/log.c: "DATE: PROGRAM LEVEL : THREAD : message"), so
 * that they read like the daemon's lines in error.log, where netdata
 * copies a plugin's stderr.
 */
#include <stdarg.h>
#include <time.h>

#include "nd.h"

void nd_log(FILE *f, enum nd_level level, const char *fmt, ...)
{
	char date[32] = "";
	time_t now = time(NULL);
	struct tm tm;
	va_list ap;

	if (localtime_r(&now, &tm))
		strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S", &tm);
	/* netdata pads the level to five columns: "INFO " and "ERROR". */
	fprintf(f, "%s: " ND_PROG " %-5.5s : MAIN : ", date, level == ND_ERROR ? "ERROR" : "INFO");
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	fputc('\n', f);
}
