/* cmd_plot.c — `absa plot DIR -o run.png`: four panels against epoch (top Hessian eigenvalue,
 * batch size, learning rate, train/test accuracy) from DIR/metrics.jsonl, drawn by gnuplot
 * (Debian's gnuplot-nox, pngcairo terminal). Several DIRs are overlaid, one line each. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "cli_util.h"

static void plot_help(void)
{
    printf("usage: absa plot DIR [DIR...] -o run.png [--title T]\n\n"
           "Plot eigenvalue, batch size, learning rate and accuracy against epoch from each run\n"
           "directory's metrics.jsonl (absa train --out DIR). Needs gnuplot (apt-get install gnuplot-nox).\n\n"
           "  -o, --output F   PNG to write (required; written atomically)\n"
           "  --title T        figure title (default: the directories)\n"
           "  -h, --help       this help\n");
}

/* number after "\"key\": " in line, NAN if absent or null */
static double field(const char *line, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *p = strstr(line, pat);
    if (!p) return NAN;
    p += strlen(pat);
    if (!strncmp(p, "null", 4)) return NAN;
    return strtod(p, NULL);
}

/* gnuplot's error in one line: from its last "... line N: message" on (the location in our
 * temporary script dropped), following lines joined with "; "; else its last non-blank line. */
static void gnuplot_message(const char *path, char *out, size_t cap)
{
    char line[512], last[512] = "";
    size_t n = 0;
    out[0] = 0;
    FILE *f = fopen(path, "r");
    if (!f) return;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        const char *p = line + strspn(line, " \t^"), *at = strstr(p, " line ");
        if (!*p) continue;
        snprintf(last, sizeof last, "%s", p);
        if (at && p[0] == '"' && strchr(at, ':')) { /* "script" line N: msg -> restart with msg */
            p = strchr(at, ':') + 1;
            p += strspn(p, " ");
            n = 0;
            out[0] = 0;
        } else if (!n) {
            continue; /* context lines before the located error */
        }
        if (n < cap) n += (size_t)snprintf(out + n, cap - n, "%s%s", n ? "; " : "", p);
    }
    if (!out[0]) snprintf(out, cap, "%s", last);
    fclose(f);
}

int absa_cmd_plot(int argc, char **argv)
{
    const char *cmd = "plot", *outp = NULL, *title = NULL;
    static const struct option opts[] = {{"output", required_argument, 0, 'o'},
                                         {"title", required_argument, 0, 't'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'o': outp = optarg; break;
        case 't': title = optarg; break;
        case 'h': plot_help(); return 0;
        default: return absa_cli_bad_option(cmd, c, argv);
        }
    }
    if (optind >= argc) return absa_cli_usage(cmd, "give at least one run directory");
    if (!outp) return absa_cli_usage(cmd, "-o OUTPUT.png is required");
    int ndirs = argc - optind, ret = 1;
    char tmpdir[] = "/tmp/absa-plot-XXXXXX", script[256], tmppng[4200], gperr[256] = "";
    if (!mkdtemp(tmpdir)) return absa_cli_error(cmd, "cannot create a temporary directory");
    for (int i = 0; i < ndirs; i++) {
        char p[300];
        snprintf(p, sizeof p, "%s/run%d.dat", tmpdir, i);
        FILE *f = fopen(p, "w");
        int rows = 0;
        if (!f) {
            absa_cli_error(cmd, "cannot write %s", p);
            goto done;
        }
        char line[8192], path[4200];
        snprintf(path, sizeof path, "%s/metrics.jsonl", argv[optind + i]);
        FILE *in = fopen(path, "r");
        if (!in) {
            fclose(f);
            absa_cli_error(cmd, "cannot open %s: %s", path, strerror(errno));
            goto done;
        }
        while (fgets(line, sizeof line, in)) {
            if (!strstr(line, "\"type\": \"epoch\"")) continue;
            double e = field(line, "eig");
            fprintf(f, "%g ", field(line, "epoch"));
            if (isnan(e)) fprintf(f, "NaN");
            else fprintf(f, "%.9g", e);
            fprintf(f, " %g %g %g %g\n", field(line, "batch"), field(line, "lr"), 100 * field(line, "train_acc"),
                    100 * field(line, "test_acc"));
            rows++;
        }
        fclose(in);
        fclose(f);
        if (!rows) {
            absa_cli_error(cmd, "%s has no epoch lines yet", path);
            goto done;
        }
    }
    snprintf(script, sizeof script, "%s/plot.gp", tmpdir);
    snprintf(tmppng, sizeof tmppng, "%s.tmp.png", outp);
    FILE *g = fopen(script, "w");
    if (!g) {
        absa_cli_error(cmd, "cannot write %s", script);
        goto done;
    }
    fprintf(g, "set terminal pngcairo size 1400,1000 font 'sans,11'\nset output '%s'\n", tmppng);
    fprintf(g, "set datafile missing 'NaN'\nset key top right font 'sans,9'\nset grid\n");
    fprintf(g, "set multiplot layout 2,2 title '%s' font 'sans,14'\n", title ? title : (ndirs == 1 ? argv[optind] : "absa runs"));
    static const char *panels[4][3] = {{"2", "top Hessian eigenvalue", "set logscale y"},
                                       {"3", "batch size", "set logscale y 2"},
                                       {"4", "learning rate", "set logscale y"},
                                       {"6", "test accuracy (%)", "unset logscale y"}};
    for (int p = 0; p < 4; p++) {
        fprintf(g, "%s\nset xlabel 'epoch'\nset ylabel '%s'\nset title '%s'\nplot ", panels[p][2], panels[p][1], panels[p][1]);
        for (int i = 0; i < ndirs; i++) {
            const char *d = argv[optind + i], *b = strrchr(d, '/');
            fprintf(g, "%s'%s/run%d.dat' using 1:%s with linespoints lw 2 pt 7 ps 0.6 title '%s'", i ? ", " : "",
                    tmpdir, i, panels[p][0], b && b[1] ? b + 1 : d);
        }
        fprintf(g, "\n");
    }
    fprintf(g, "unset multiplot\n");
    fclose(g);
    /* gnuplot's own output (warnings such as "Skipping data file with no valid points" for a
     * schedule without eigenvalues) goes to a file and is shown only when gnuplot fails */
    snprintf(gperr, sizeof gperr, "%s/gnuplot.err", tmpdir);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(gperr, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
            close(fd);
        }
        execlp("gnuplot", "gnuplot", script, (char *)NULL);
        fprintf(stderr, "cannot run gnuplot: %s\n", strerror(errno));
        _exit(127);
    }
    int wst = 0;
    if (pid < 0 || waitpid(pid, &wst, 0) < 0 || !WIFEXITED(wst) || WEXITSTATUS(wst) != 0) {
        char why[512];
        gnuplot_message(gperr, why, sizeof why);
        remove(tmppng);
        absa_cli_error(cmd, "gnuplot failed (exit %d%s%s)", WIFEXITED(wst) ? WEXITSTATUS(wst) : -1,
                       why[0] ? ": " : "; is gnuplot-nox installed?", why);
        goto done;
    }
    if (rename(tmppng, outp) != 0) {
        remove(tmppng);
        absa_cli_error(cmd, "cannot write %s: %s", outp, strerror(errno));
        goto done;
    }
    fprintf(stderr, "absa plot: wrote %s\n", outp);
    ret = 0;
done:
    for (int i = 0; i < ndirs; i++) {
        char p[300];
        snprintf(p, sizeof p, "%s/run%d.dat", tmpdir, i);
        remove(p);
    }
    remove(script);
    if (gperr[0]) remove(gperr);
    rmdir(tmpdir);
    return ret;
}
