/* absa_slurm_main.c — the standalone `absa-slurm` helper for job scripts: the same as
 * `absa slurm ...` (src/cli/cmd_slurm.c), usable before that subcommand is wired into `absa`. */
#include "cli.h"

int main(int argc, char **argv) { return absa_cmd_slurm(argc, argv); }
