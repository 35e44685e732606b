/* cmd_train.c — `absa train`: parse flags / config file and run the trainer. */
#include <stdio.h>

#include "cli.h"
#include "cli_util.h"
#include "trainer.h"

int absa_cmd_train(int argc, char **argv)
{
    absa_train_cfg c;
    int help = 0;
    absa_train_cfg_defaults(&c);
    if (absa_train_cfg_parse(&c, argc, argv, &help) != ABSA_OK)
        return absa_cli_usage("train", "%s", absa_last_error());
    if (help) {
        absa_train_cfg_help(stdout);
        return 0;
    }
    if (absa_train_run(&c) != ABSA_OK) return absa_cli_error("train", "%s", absa_last_error());
    return 0;
}
