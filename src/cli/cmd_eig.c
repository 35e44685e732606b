/* cmd_eig.c — `absa eig`: top Hessian eigenvalue(s) (power iteration, optional deflation) and
 * Hutchinson trace of a checkpoint's training loss on N samples of a dataset, as JSON. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "cli.h"
#include "cli_util.h"
#include "curvature.h"
#include "dataset.h"

static void eig_help(void)
{
    printf("usage: absa eig --checkpoint FILE.h5 [options]\n\n"
           "Top Hessian eigenvalue(s) and trace of the mean cross-entropy of a checkpoint on N\n"
           "samples, with exact Hessian-vector products. Prints one JSON object.\n\n"
           "  --checkpoint F   model checkpoint (absa init / absa train / h5py state_dict)\n"
           "  --data PATH      packed .h5 or IDX directory       (default %s)\n"
           "  --split S        split to draw samples from         (default train)\n"
           "  --samples N      number of samples                  (default 128, reference)\n"
           "  --seed S         sample choice and start vector     (default 0)\n"
           "  --iters N        max power iterations per eigenvalue (default 10, reference)\n"
           "  --tol T          stopping tolerance                 (default 1e-2 absolute / 1e-3 relative)\n"
           "  --rule R         absolute (HessianFlow) | relative (PyHessian)   (default absolute)\n"
           "  --topk K         eigenvalues by deflation, 1..%d    (default 1)\n"
           "  --trace-probes P Hutchinson probes (0 = no trace)   (default 0)\n"
           "  --chunk B        samples per HVP pass               (default 128)\n"
           "  --bn MODE        eval (reference) | train           (default eval)\n"
           "  --no-normalise   feed u8/255 instead of (x-mean)/std\n"
           "  --first          the first N samples instead of a seeded random choice\n"
           "  --threads T      OpenMP/OpenBLAS threads            (default: all cores)\n"
           "  --device D       engine backend: cpu | cpu-guarded | cuda[:N]  (default cpu)\n"
           "  --output FILE    write the JSON there instead of stdout\n"
           "  --progress S     seconds between progress lines on stderr (0 = every HVP pass) (default 1)\n"
           "  --quiet          no progress on stderr\n"
           "  -h, --help       this help\n",
           ABSA_DEFAULT_DATA, ABSA_EIG_MAX_K);
}

/* progress on stderr: the estimate so far and the elapsed time, at most every `every` seconds */
typedef struct eig_progress {
    double t0, last, every;
    int max_iters, probes;
} eig_progress;

static void eig_progress_cb(void *ctx, const char *what, int k, int step, double value)
{
    eig_progress *p = ctx;
    double now = absa_now();
    if (now - p->last < p->every) return;
    p->last = now;
    char v[ABSA_DBL_LEN];
    absa_fmt_double(v, sizeof v, value);
    if (!strcmp(what, "eig"))
        fprintf(stderr, "absa eig: lambda_%d iteration %d/%d: %s (%.1f s)\n", k + 1, step, p->max_iters, v, now - p->t0);
    else
        fprintf(stderr, "absa eig: trace probe %d/%d: mean %s (%.1f s)\n", step, p->probes, v, now - p->t0);
}

/* ", \"key\": value" with the shortest round-trip decimal */
static void json_dbl(FILE *f, const char *sep, double v)
{
    char b[ABSA_DBL_LEN];
    fprintf(f, "%s%s", sep, isfinite(v) ? absa_fmt_double(b, sizeof b, v) : "null");
}

static void write_json(FILE *f, const char *ckpt, const char *model, const char *data,
                       const char *split, int n, uint64_t seed, const absa_eig_opts *o,
                       const absa_eig_result *r, int probes, double trace, double trace_se,
                       double secs)
{
    fprintf(f, "{\"checkpoint\": ");
    absa_json_string(f, ckpt);
    fprintf(f, ", \"model\": ");
    absa_json_string(f, model);
    fprintf(f, ", \"data\": ");
    absa_json_string(f, data);
    fprintf(f, ", \"split\": ");
    absa_json_string(f, split);
    fprintf(f, ", \"samples\": %d, \"seed\": %llu, \"bn\": \"%s\", \"rule\": \"%s\"",
            n, (unsigned long long)seed, o->train_mode ? "train" : "eval",
            o->rule == ABSA_EIG_RELATIVE ? "relative" : "absolute");
    json_dbl(f, ", \"tol\": ", o->tol);
    fprintf(f, ", \"max_iters\": %d, \"eigenvalues\": [", o->max_iters);
    for (int k = 0; k < r->k; k++) json_dbl(f, k ? ", " : "", r->eig[k]);
    fprintf(f, "], \"iterations\": [");
    for (int k = 0; k < r->k; k++) fprintf(f, "%s%d", k ? ", " : "", r->iters[k]);
    fprintf(f, "], \"converged\": [");
    for (int k = 0; k < r->k; k++) fprintf(f, "%s%s", k ? ", " : "", r->converged[k] ? "true" : "false");
    fprintf(f, "], \"hvp_passes\": %d", r->n_hvp);
    json_dbl(f, ", \"loss\": ", r->loss);
    if (probes > 0) {
        json_dbl(f, ", \"trace\": ", trace);
        json_dbl(f, ", \"trace_stderr\": ", trace_se);
        fprintf(f, ", \"trace_probes\": %d", probes);
    }
    fprintf(f, ", \"seconds\": %.3f}\n", secs);
}

int absa_cmd_eig(int argc, char **argv)
{
    const char *cmd = "eig", *device = "cpu", *ckpt = NULL, *data = ABSA_DEFAULT_DATA, *split = "train", *outp = NULL;
    int n = 128, probes = 0, normalise = 1, first = 0, quiet = 0, threads = 0, tol_set = 0, rc;
    uint64_t seed = 0;
    double every = 1;
    absa_eig_opts o;
    absa_eig_defaults(&o);
    static const struct option opts[] = {
        {"checkpoint", required_argument, 0, 'c'}, {"data", required_argument, 0, 'd'},
        {"split", required_argument, 0, 'S'},      {"samples", required_argument, 0, 'n'},
        {"seed", required_argument, 0, 's'},       {"iters", required_argument, 0, 'i'},
        {"tol", required_argument, 0, 't'},        {"rule", required_argument, 0, 'r'},
        {"topk", required_argument, 0, 'k'},       {"trace-probes", required_argument, 0, 'p'},
        {"chunk", required_argument, 0, 'b'},      {"bn", required_argument, 0, 'B'},
        {"no-normalise", no_argument, 0, 'N'},     {"first", no_argument, 0, 'F'},
        {"threads", required_argument, 0, 'T'},    {"output", required_argument, 0, 'o'},
        {"quiet", no_argument, 0, 'q'},            {"help", no_argument, 0, 'h'},
        {"progress", required_argument, 0, 'P'}, {"device", required_argument, 0, 'D'},
        {0, 0, 0, 0}};
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': ckpt = optarg; break;
        case 'D': device = optarg; break;
        case 'd': data = optarg; break;
        case 'S': split = optarg; break;
        case 'n': if ((rc = absa_arg_int(cmd, "--samples", optarg, 1, 10000000, &n))) return rc; break;
        case 's': if ((rc = absa_arg_u64(cmd, "--seed", optarg, &seed))) return rc; break;
        case 'i': if ((rc = absa_arg_int(cmd, "--iters", optarg, 1, 100000, &o.max_iters))) return rc; break;
        case 't': if ((rc = absa_arg_double(cmd, "--tol", optarg, 1e-300, 1e300, &o.tol))) return rc; tol_set = 1; break;
        case 'r':
            if (!strcmp(optarg, "absolute")) o.rule = ABSA_EIG_ABSOLUTE;
            else if (!strcmp(optarg, "relative")) o.rule = ABSA_EIG_RELATIVE;
            else return absa_cli_usage(cmd, "--rule: '%s' is not absolute or relative", optarg);
            break;
        case 'k': if ((rc = absa_arg_int(cmd, "--topk", optarg, 1, ABSA_EIG_MAX_K, &o.topk))) return rc; break;
        case 'p': if ((rc = absa_arg_int(cmd, "--trace-probes", optarg, 0, 1000000, &probes))) return rc; break;
        case 'b': if ((rc = absa_arg_int(cmd, "--chunk", optarg, 1, 1000000, &o.chunk))) return rc; break;
        case 'B':
            if (!strcmp(optarg, "eval")) o.train_mode = 0;
            else if (!strcmp(optarg, "train")) o.train_mode = 1;
            else return absa_cli_usage(cmd, "--bn: '%s' is not eval or train", optarg);
            break;
        case 'N': normalise = 0; break;
        case 'F': first = 1; break;
        case 'T': if ((rc = absa_arg_int(cmd, "--threads", optarg, 1, 4096, &threads))) return rc; break;
        case 'o': outp = optarg; break;
        case 'q': quiet = 1; break;
        case 'P': if ((rc = absa_arg_double(cmd, "--progress", optarg, 0, 1e6, &every))) return rc; break;
        case 'h': eig_help(); return 0;
        default: return absa_cli_bad_option(cmd, c, argv);
        }
    }
    if (optind < argc) return absa_cli_usage(cmd, "unexpected argument '%s'", argv[optind]);
    if (!ckpt) return absa_cli_usage(cmd, "--checkpoint is required");
    if (!tol_set && o.rule == ABSA_EIG_RELATIVE) o.tol = 1e-3;
    o.seed = seed;
    absa_set_threads(threads);

    int ret = 1;
    absa_model *m = NULL;
    absa_samples s = {0};
    char model[64];
    int C, H, W, K;
    double t0 = absa_now();
    if (absa_checkpoint_peek(ckpt, model, sizeof model, &C, &H, &W, &K) != ABSA_OK ||
        absa_model_create_on(model, C, H, W, K, device, &m) != ABSA_OK ||
        absa_checkpoint_load(ckpt, m, NULL) != ABSA_OK ||
        absa_samples_load(data, split, n, !first, seed, normalise, &s) != ABSA_OK) {
        absa_cli_error(cmd, "%s", absa_last_error());
        goto done;
    }
    if (s.C != C || s.H != H || s.W != W) {
        absa_cli_error(cmd, "data %s has inputs %dx%dx%d but checkpoint %s expects %dx%dx%d", data,
                       s.C, s.H, s.W, ckpt, C, H, W);
        goto done;
    }
    if (s.n_classes > K) {
        absa_cli_error(cmd, "data %s has %d classes but checkpoint %s has %d outputs", data, s.n_classes, ckpt, K);
        goto done;
    }
    if (s.n < n && !quiet) fprintf(stderr, "absa eig: split has only %d samples; using all\n", s.n);
    if (!quiet)
        fprintf(stderr, "absa eig: %s (%zu parameters) on %d samples of %s:%s, bn %s, rule %s tol %g\n",
                model, m->n_params, s.n, data, split, o.train_mode ? "train" : "eval",
                o.rule == ABSA_EIG_RELATIVE ? "relative" : "absolute", o.tol);
    eig_progress prog = {t0, t0, every, o.max_iters, probes};
    if (!quiet) {
        o.progress = eig_progress_cb;
        o.progress_ctx = &prog;
    }
    absa_eig_result r;
    if (absa_power_iteration(m, s.x, s.y, s.n, &o, NULL, &r, NULL) != ABSA_OK) {
        absa_cli_error(cmd, "%s", absa_last_error());
        goto done;
    }
    if (!quiet)
        for (int k = 0; k < r.k; k++)
            fprintf(stderr, "absa eig: lambda_%d = %.6g after %d iterations (%s)\n", k + 1, r.eig[k],
                    r.iters[k], r.converged[k] ? "converged" : "iteration limit");
    double trace = 0, tse = 0;
    if (probes > 0 &&
        absa_hutchinson_trace_cb(m, s.x, s.y, s.n, o.chunk, o.train_mode, probes, seed, &trace, &tse,
                                 o.progress, o.progress_ctx) != ABSA_OK) {
        absa_cli_error(cmd, "%s", absa_last_error());
        goto done;
    }
    FILE *f = stdout;
    char tmp[4096];
    if (outp) {
        snprintf(tmp, sizeof tmp, "%s.tmp", outp);
        f = fopen(tmp, "w");
        if (!f) {
            absa_cli_error(cmd, "cannot write %s", tmp);
            goto done;
        }
    }
    write_json(f, ckpt, model, data, split, s.n, seed, &o, &r, probes, trace, tse, absa_now() - t0);
    if (outp) {
        int bad = fclose(f) != 0;
        if (bad || rename(tmp, outp) != 0) {
            remove(tmp);
            absa_cli_error(cmd, "cannot write %s", outp);
            goto done;
        }
    }
    ret = 0;
done:
    absa_samples_free(&s);
    absa_model_free(m);
    return ret;
}
