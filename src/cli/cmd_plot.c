/* cmd_plot.c — `absa plot DIR -o run.png`: four panels against epoch or SGD iterations (--x; top Hessian eigenvalue,
 * batch size, learning rate, train/test accuracy) from DIR/metrics.jsonl, drawn by gnuplot
 * (Debian's gnuplot-nox, pngcairo terminal). Several DIRs are overlaid, one line each. Markers
 * say why the batch grew after an epoch (the eigenvalue rule or the --duration timer) and which
 * eigenvalues' power iteration did not converge. */
#define _GNU_SOURCE /* O_TMPFILE */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "cli_util.h"

static void plot_help(void)
{
    printf("usage: absa plot DIR [DIR...] -o run.png [--x epoch|iters] [--title T] [--script F]\n\n"
           "Plot eigenvalue, batch size, learning rate and accuracy against epoch (or SGD iterations)\n"
           "from each run directory's metrics.jsonl (absa train --out DIR). On the batch and eigenvalue\n"
           "panels a marker at each epoch after which the batch grew says why: a diamond when the\n"
           "eigenvalue fell to 1/--growth-ratio of its reference, a square when --duration eigenvalue\n"
           "epochs passed without growth. On the eigenvalue panel an open circle marks an eigenvalue\n"
           "whose power iteration did not converge within --eig-iters. Needs gnuplot\n"
           "(apt-get install gnuplot-nox).\n\n"
           "  -o, --output F   PNG to write (required; written atomically)\n"
           "  --x AXIS         epoch (default) or iters: the SGD iterations at the end of each epoch\n"
           "  --title T        figure title (default: the directories)\n"
           "  --script F       also keep the gnuplot script in F (the data inline, as datablocks)\n"
           "  -h, --help       this help\n");
}

/* "grow_reason" of an epoch line: 1 eigenvalue, 2 duration, 0 no growth (or not recorded) */
static int grow_code(const char *line)
{
    if (strstr(line, "\"grow_reason\": \"eig\"")) return 1;
    if (strstr(line, "\"grow_reason\": \"duration\"")) return 2;
    return 0;
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

/* a number for gnuplot's data file: NaN (the script's missing value) unless finite */
static void put_num(FILE *f, double x, const char *fmt)
{
    if (isfinite(x)) fprintf(f, fmt, x);
    else fputs("NaN", f);
}

/* s as a gnuplot single-quoted string: a quote doubled (gnuplot's escape), a control character
 * (a newline would end the command) shown as '?'. Names and titles come from the command line
 * and directory names: nothing in them may become gnuplot syntax. */
static void gp_quoted(FILE *g, const char *s)
{
    fputc('\'', g);
    for (; *s; s++) {
        if (*s == '\'') fputs("''", g);
        else fputc((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s, g);
    }
    fputc('\'', g);
}

/* Whether the file at path is a whole PNG: the signature first and the IEND chunk last (gnuplot
 * can exit 0 after a short write, e.g. on a full disk). */
static int png_complete(const char *path)
{
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    static const unsigned char iend[12] = {0, 0, 0, 0, 'I', 'E', 'N', 'D', 0xae, 0x42, 0x60, 0x82};
    unsigned char a[8], b[12];
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    int ok = fread(a, 1, 8, f) == 8 && !memcmp(a, sig, 8) && fseek(f, -12, SEEK_END) == 0 &&
             fread(b, 1, 12, f) == 12 && !memcmp(b, iend, 12);
    fclose(f);
    return ok;
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
    const char *cmd = "plot", *outp = NULL, *title = NULL, *keep = NULL;
    int xcol = 1; /* data column of the x axis: 1 epoch, 9 SGD iterations */
    static const struct option opts[] = {{"output", required_argument, 0, 'o'},
                                         {"x", required_argument, 0, 'x'},
                                         {"title", required_argument, 0, 't'},
                                         {"script", required_argument, 0, 's'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'o': outp = optarg; break;
        case 't': title = optarg; break;
        case 's': keep = optarg; break;
        case 'x':
            if (!strcmp(optarg, "epoch")) xcol = 1;
            else if (!strcmp(optarg, "iters")) xcol = 9;
            else return absa_cli_usage(cmd, "--x takes epoch or iters (got '%s')", optarg);
            break;
        case 'h': plot_help(); return 0;
        default: return absa_cli_bad_option(cmd, c, argv);
        }
    }
    if (optind >= argc) return absa_cli_usage(cmd, "give at least one run directory");
    if (!outp) return absa_cli_usage(cmd, "-o OUTPUT.png is required");
    for (const char *q = outp; *q; q++)
        if ((unsigned char)*q < 0x20 || *q == 0x7f)
            return absa_cli_usage(cmd, "the output path contains a control character");
    int ndirs = argc - optind, ret = 1;
    int eigs = 0; /* over every run: 1 some finite eigenvalue, 2 some positive one (log scale) */
    /* per run: which markers have points (gnuplot warns about an empty series) */
    unsigned char *marks = calloc((size_t)ndirs, 1);
    char *sbuf = NULL, tmppng[4200], outdir[4200], gpout[64];
    size_t slen = 0;
    int fd_png = -1, fd_err = -1, own_tmp = 0; /* own_tmp: OUT.tmp.png is this plot's, removed on failure */
    FILE *g = marks ? open_memstream(&sbuf, &slen) : NULL;
    if (!g) {
        free(marks);
        return absa_cli_error(cmd, "out of memory");
    }
    /* The script carries every run's data as a datablock ($runI) and goes to gnuplot through a
     * pipe, so nothing is written to /tmp: a kill -9 at any moment leaves no temporary files
     * (before, a directory /tmp/absa-plot-* of data files and the script stayed behind). */
    for (int i = 0; i < ndirs; i++) {
        int rows = 0;
        char line[8192], path[4200];
        snprintf(path, sizeof path, "%s/metrics.jsonl", argv[optind + i]);
        FILE *in = fopen(path, "r");
        if (!in) {
            absa_cli_error(cmd, "cannot open %s: %s", path, strerror(errno));
            goto done;
        }
        fprintf(g, "$run%d << EOD\n", i);
        while (fgets(line, sizeof line, in)) {
            if (!strstr(line, "\"type\": \"epoch\"")) continue;
            double e = field(line, "eig");
            put_num(g, field(line, "epoch"), "%g");
            fputc(' ', g);
            put_num(g, e, "%.9g");
            if (isfinite(e)) eigs |= e > 0 ? 2 : 1;
            /* 7: grow reason code, 8: eigenvalue converged (1/0; NaN: no eigenvalue or not recorded) */
            const char *cv = strstr(line, "\"eig_converged\": ");
            int conv = !cv || isnan(e) ? -1 : !strncmp(cv + 17, "true", 4) ? 1 : !strncmp(cv + 17, "false", 5) ? 0 : -1;
            const double cols[4] = {field(line, "batch"), field(line, "lr"), 100 * field(line, "train_acc"),
                                    100 * field(line, "test_acc")};
            const int gc = grow_code(line); /* 0, 1 or 2: also its bit in marks */
            for (int k = 0; k < 4; k++) put_num(g, cols[k], " %g");
            fprintf(g, " %d ", gc);
            marks[i] |= (unsigned char)(gc | (conv == 0 ? 4 : 0));
            if (conv < 0) fprintf(g, "NaN");
            else fprintf(g, "%d", conv);
            put_num(g, field(line, "sgd_iters"), " %g"); /* 9: SGD iterations so far */
            fputc('\n', g);
            rows++;
        }
        fclose(in);
        fprintf(g, "EOD\n");
        if (!rows) {
            absa_cli_error(cmd, "%s has no epoch lines yet", path);
            goto done;
        }
    }
    /* Where gnuplot writes: an unnamed file (O_TMPFILE) in the output's directory, which gets a
     * name (OUT.tmp.png, renamed over OUT at once) only when it is a whole PNG; a kill -9 while
     * gnuplot runs leaves nothing. Where the file system has no O_TMPFILE, OUT.tmp.png from the
     * start (a kill -9 then leaves it; the next plot to OUT replaces it). */
    snprintf(tmppng, sizeof tmppng, "%s.tmp.png", outp);
    snprintf(outdir, sizeof outdir, "%s", outp);
    {
        char *slash = strrchr(outdir, '/');
        if (!slash) snprintf(outdir, sizeof outdir, ".");
        else if (slash == outdir) outdir[1] = 0;
        else *slash = 0;
    }
    fd_png = open(outdir, O_TMPFILE | O_WRONLY, 0666);
    char pngpath[64]; /* where this process reads the unnamed PNG */
    if (fd_png >= 0) {
        snprintf(gpout, sizeof gpout, "/dev/fd/%d", fd_png);
        snprintf(pngpath, sizeof pngpath, "/proc/self/fd/%d", fd_png);
    }
    /* noenhanced: a name like run_1 is text, not "run" with a subscript */
    fprintf(g, "set terminal pngcairo noenhanced size 1400,1000 font 'sans,11'\nset output ");
    gp_quoted(g, fd_png >= 0 ? gpout : tmppng);
    fprintf(g, "\nset datafile missing 'NaN'\nset key top right font 'sans,9'\nset grid\n");
    fprintf(g, "set multiplot layout 2,2 title ");
    gp_quoted(g, title ? title : (ndirs == 1 ? argv[optind] : "absa runs"));
    fprintf(g, " font 'sans,14'\n");
    static const char *panels[4][3] = {{"2", "top Hessian eigenvalue", "set logscale y"},
                                       {"3", "batch size", "set logscale y 2"},
                                       {"4", "learning rate", "set logscale y"},
                                       {"6", "test accuracy (%)", "unset logscale y"}};
    for (int p = 0; p < 4; p++) {
        const char *scale = panels[p][2];
        if (p == 0 && !(eigs & 2)) scale = "unset logscale y"; /* no positive eigenvalue: no log axis */
        fprintf(g, "%s\nset xlabel '%s'\nset ylabel '%s'\nset title '%s'\n", scale,
                xcol == 1 ? "epoch" : "SGD iterations", panels[p][1], panels[p][1]);
        if (p == 0 && !eigs) { /* e.g. --schedule sgd: nothing to draw, say so instead of failing */
            fprintf(g, "set label 1 'no eigenvalue recorded' at graph 0.5,0.5 center\nset yrange [0:1]\n"
                       "plot 1/0 notitle\nunset label 1\nset autoscale y\n");
            continue;
        }
        fprintf(g, "plot ");
        for (int i = 0; i < ndirs; i++) {
            const char *d = argv[optind + i], *b = strrchr(d, '/');
            const char *name = b && b[1] ? b + 1 : d;
            /* one colour per run in every panel (gnuplot would count the marker series too) */
            char key[600];
            fprintf(g, "%s$run%d using %d:%s with linespoints lt %d lw 2 pt 7 ps 0.6 title ", i ? ", " : "", i,
                    xcol, panels[p][0], i % 8 + 1);
            gp_quoted(g, name);
            if (p == 0 && (marks[i] & 4)) { /* eigenvalues whose power iteration did not converge */
                fprintf(g, ", $run%d using %d:($8==0?$2:1/0) with points pt 6 ps 2.2 lw 2 lc rgb '#d73027' "
                           "title ", i, xcol);
                snprintf(key, sizeof key, "%s: eigenvalue not converged", name);
                gp_quoted(g, key);
            }
            /* why the batch grew after an epoch: on the batch panel (with a key entry) and on the
             * eigenvalue panel (the eigenvalue the decision saw; the batch panel's key explains).
             * Grow code c (data column 7) has the marks bit c. */
            static const struct { int code; const char *style, *what; } grew[2] = {
                {1, "pt 13 ps 2.2 lc rgb '#1a9850'", "grew (eigenvalue fell)"},
                {2, "pt 5 ps 1.8 lc rgb '#d73027'", "grew (--duration timer)"}};
            for (int q = 0; p <= 1 && q < 2; q++) {
                if (!(marks[i] & grew[q].code)) continue;
                fprintf(g, ", $run%d using %d:($7==%d?$%d:1/0) with points %s ", i, xcol, grew[q].code,
                        p == 1 ? 3 : 2, grew[q].style);
                snprintf(key, sizeof key, "%s: %s", name, grew[q].what);
                if (p == 1) fprintf(g, "title "), gp_quoted(g, key);
                else fprintf(g, "notitle");
            }
        }
        fprintf(g, "\n");
    }
    fprintf(g, "unset multiplot\n");
    if (ferror(g) | (fclose(g) != 0)) {
        g = NULL;
        absa_cli_error(cmd, "out of memory (gnuplot script)");
        goto done;
    }
    g = NULL;
    /* gnuplot's own output (warnings such as "Skipping data file with no valid points" for a
     * schedule without eigenvalues) goes to an unnamed file and is shown only when gnuplot fails */
    fd_err = open("/tmp", O_TMPFILE | O_RDWR, 0600);
    if (fd_err < 0) {
        char errpath[] = "/tmp/absa-plot-XXXXXX";
        fd_err = mkstemp(errpath);
        if (fd_err >= 0) unlink(errpath);
    }
    int pipefd[2];
    if (fd_err < 0 || pipe(pipefd) != 0) {
        absa_cli_error(cmd, "cannot create gnuplot's error file or pipe: %s", strerror(errno));
        goto done;
    }
    fflush(stderr);
    own_tmp = fd_png < 0; /* gnuplot writes OUT.tmp.png itself */
    pid_t pid = fork();
    if (pid == 0) {
        dup2(pipefd[0], STDIN_FILENO);
        dup2(fd_err, STDOUT_FILENO);
        dup2(fd_err, STDERR_FILENO);
        close(pipefd[0]);
        close(pipefd[1]);
        close(fd_err);
        /* "/dev/stdin": gnuplot names it in its errors as it named the script file before */
        execlp("gnuplot", "gnuplot", "/dev/stdin", (char *)NULL);
        fprintf(stderr, "cannot run gnuplot: %s\n", strerror(errno));
        _exit(127);
    }
    close(pipefd[0]);
    if (pid > 0) { /* the script; gnuplot gone early (EPIPE) is reported by its exit status */
        void (*old_pipe)(int) = signal(SIGPIPE, SIG_IGN);
        for (size_t off = 0; off < slen;) {
            ssize_t w = write(pipefd[1], sbuf + off, slen - off);
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) break;
            off += (size_t)w;
        }
        signal(SIGPIPE, old_pipe);
    }
    close(pipefd[1]);
    int wst = 0;
    if (pid < 0 || waitpid(pid, &wst, 0) < 0 || !WIFEXITED(wst) || WEXITSTATUS(wst) != 0) {
        char why[512], errpath[64];
        snprintf(errpath, sizeof errpath, "/proc/self/fd/%d", fd_err);
        gnuplot_message(errpath, why, sizeof why);
        absa_cli_error(cmd, "gnuplot failed (exit %d%s%s)", WIFEXITED(wst) ? WEXITSTATUS(wst) : -1,
                       why[0] ? ": " : "; is gnuplot-nox installed?", why);
        goto done;
    }
    if (!png_complete(fd_png >= 0 ? pngpath : tmppng)) { /* gnuplot said nothing, but the file is short (a full disk) */
        absa_cli_error(cmd, "cannot write %s: gnuplot left an incomplete PNG (disk full?)", outp);
        goto done;
    }
    if (keep) { /* through KEEP.tmp and a rename: never a half-written script */
        char tmpkeep[4200];
        snprintf(tmpkeep, sizeof tmpkeep, "%s.tmp", keep);
        FILE *out = fopen(tmpkeep, "w");
        int okw = out && fwrite(sbuf, 1, slen, out) == slen;
        if (out && fclose(out) != 0) okw = 0;
        if (!okw || rename(tmpkeep, keep) != 0) {
            remove(tmpkeep);
            absa_cli_error(cmd, "cannot write %s", keep);
            goto done;
        }
    }
    if (fd_png >= 0) { /* name the whole PNG (a stale OUT.tmp.png of a killed older plot replaced) */
        int rc = linkat(AT_FDCWD, pngpath, AT_FDCWD, tmppng, AT_SYMLINK_FOLLOW);
        if (rc != 0 && errno == EEXIST) {
            remove(tmppng);
            rc = linkat(AT_FDCWD, pngpath, AT_FDCWD, tmppng, AT_SYMLINK_FOLLOW);
        }
        if (rc != 0) {
            absa_cli_error(cmd, "cannot write %s: %s", outp, strerror(errno));
            goto done;
        }
        own_tmp = 1;
    }
    if (rename(tmppng, outp) != 0) {
        absa_cli_error(cmd, "cannot write %s: %s", outp, strerror(errno));
        goto done;
    }
    fprintf(stderr, "absa plot: wrote %s\n", outp);
    ret = 0;
done:
    if (ret != 0 && own_tmp) remove(tmppng);
    if (g) fclose(g);
    free(sbuf);
    if (fd_png >= 0) close(fd_png);
    if (fd_err >= 0) close(fd_err);
    free(marks);
    return ret;
}
