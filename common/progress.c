/* progress.c: a progress bar on stderr that only a terminal sees. */
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "banned.h"

double lm_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void lm_fmt_bytes(uint64_t n, char *buf, size_t len)
{
    static const char *unit[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
    double v = (double)n;
    int u = 0;
    while (v >= 1024 && u < 5) {
        v /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, len, "%llu B", (unsigned long long)n);
    else
        snprintf(buf, len, "%.1f %s", v, unit[u]);
}

void lm_progress_format(char *buf, size_t n, int width, const char *label, uint64_t done,
                        uint64_t total, double elapsed_s)
{
    char d[32], t[32], r[32], eta[32] = "";
    if (total && done > total)   /* a server's total can be wrong; never draw past 100% */
        total = done;
    lm_fmt_bytes(done, d, sizeof(d));
    double rate = elapsed_s > 0 ? (double)done / elapsed_s : 0;
    lm_fmt_bytes((uint64_t)rate, r, sizeof(r));
    if (!total) {
        snprintf(buf, n, "%s  %s  %s/s", label, d, r);
        return;
    }
    lm_fmt_bytes(total, t, sizeof(t));
    int pct = (int)(done * 100 / total);
    if (rate > 0 && done < total)
        snprintf(eta, sizeof(eta), "  ETA %.0fs", (double)(total - done) / rate);
    char head[256];
    int hl = snprintf(head, sizeof(head), "%s  %s / %s  %3d%%  ", label, d, t, pct);
    char tail[96];
    int tl = snprintf(tail, sizeof(tail), "  %s/s%s", r, eta);
    int bar = width - hl - tl - 2;
    if (bar > 40)
        bar = 40;
    if (bar < 5) {
        snprintf(buf, n, "%s%s", head, tail + 2);
        return;
    }
    char bars[48];
    int fill = (int)((uint64_t)bar * done / total);
    for (int i = 0; i < bar; i++)
        bars[i] = i < fill ? '#' : ' ';
    bars[bar] = 0;
    snprintf(buf, n, "%s[%s]%s", head, bars, tail);
}

static int term_width(void)
{
    struct winsize ws;
    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    return 80;
}

static void draw(struct lm_progress *p)
{
    char line[512];
    int w = term_width();
    lm_progress_format(line, sizeof(line), w - 1, p->label, p->done, p->total,
                       lm_now() - p->start);
    if ((int)strlen(line) > w - 1 && w > 1)
        line[w - 1] = 0;   /* never wrap */
    fprintf(stderr, "\r%s\x1b[K", line);
    fflush(stderr);
    p->last_draw = lm_now();
}

void lm_progress_begin(struct lm_progress *p, const char *label, uint64_t total)
{
    p->label = label;
    p->total = total;
    p->done = 0;
    p->start = lm_now();
    p->last_draw = 0;
    p->active = !lm_quiet && isatty(STDERR_FILENO);
}

void lm_progress_add(struct lm_progress *p, uint64_t n)
{
    p->done += n;
    if (p->active && lm_now() - p->last_draw >= 0.1)
        draw(p);
}

void lm_progress_end(struct lm_progress *p)
{
    if (!p->active)
        return;
    if (p->total < p->done)
        p->total = p->done;
    p->done = p->total ? p->total : p->done;   /* always show the finished state */
    draw(p);
    fputc('\n', stderr);
    p->active = false;
}
