/* cmd_init.c — `absa init`: create a model with PyTorch-default initialisation and write it as
 * an HDF5 checkpoint (atomically), e.g. to measure the curvature at initialisation. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "checkpoint.h"
#include "cli.h"
#include "cli_util.h"
#include "dataset.h"
#include "model.h"

static void init_help(void)
{
    printf("usage: absa init --out FILE.h5 [options]\n\n"
           "Write a freshly initialised model checkpoint.\n\n"
           "  --model M       mlp | lenet | c1 | resnet20              (default lenet)\n"
           "  --data PATH     take the input shape from this dataset (packed .h5 or IDX dir)\n"
           "                  (default %s)\n"
           "  --input C,H,W   input shape instead of --data\n"
           "  --classes K     number of classes                         (default: the data's, else 10)\n"
           "  --seed S        initialisation seed                       (default 0)\n"
           "  --out FILE      checkpoint to write (required)\n"
           "  --force         overwrite an existing FILE\n"
           "  -h, --help      this help\n",
           ABSA_DEFAULT_DATA);
}

int absa_cmd_init(int argc, char **argv)
{
    const char *cmd = "init", *model = "lenet", *data = NULL, *out = NULL;
    int C = 0, H = 0, W = 0, K = 0, force = 0, rc;
    uint64_t seed = 0;
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'}, {"data", required_argument, 0, 'd'},
        {"input", required_argument, 0, 'i'}, {"classes", required_argument, 0, 'k'},
        {"seed", required_argument, 0, 's'},  {"out", required_argument, 0, 'o'},
        {"force", no_argument, 0, 'f'},       {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 'd': data = optarg; break;
        case 'i': if ((rc = absa_arg_shape(cmd, "--input", optarg, &C, &H, &W))) return rc; break;
        case 'k': if ((rc = absa_arg_int(cmd, "--classes", optarg, 2, 100000, &K))) return rc; break;
        case 's': if ((rc = absa_arg_u64(cmd, "--seed", optarg, &seed))) return rc; break;
        case 'o': out = optarg; break;
        case 'f': force = 1; break;
        case 'h': init_help(); return 0;
        default: return absa_cli_bad_option(cmd, c, argv);
        }
    }
    if (optind < argc) return absa_cli_usage(cmd, "unexpected argument '%s'", argv[optind]);
    if (!out) return absa_cli_usage(cmd, "--out is required");
    if ((rc = absa_cli_check_model(cmd, model))) return rc;
    if (data && C) return absa_cli_usage(cmd, "give --data or --input, not both");
    struct stat st;
    if (!force && stat(out, &st) == 0)
        return absa_cli_error(cmd, "%s exists (use --force to overwrite)", out);
    if (!C) {
        absa_samples s;
        if (absa_samples_load(data ? data : ABSA_DEFAULT_DATA, "train", 1, 0, 0, 0, &s) != ABSA_OK)
            return absa_cli_error(cmd, "%s", absa_last_error());
        C = s.C;
        H = s.H;
        W = s.W;
        if (!K) K = s.n_classes;
        absa_samples_free(&s);
    }
    if (!K) K = 10;
    absa_model *m = NULL;
    if (absa_model_create(model, C, H, W, K, &m) != ABSA_OK)
        return absa_cli_error(cmd, "%s", absa_last_error());
    absa_model_init(m, seed);
    absa_status st2 = absa_checkpoint_save(out, m, NULL);
    if (st2 != ABSA_OK) {
        absa_model_free(m);
        return absa_cli_error(cmd, "%s", absa_last_error());
    }
    fprintf(stderr, "absa init: wrote %s (%s, input %dx%dx%d, %d classes, %zu parameters, seed %llu)\n",
            out, model, C, H, W, K, m->n_params, (unsigned long long)seed);
    absa_model_free(m);
    return 0;
}
