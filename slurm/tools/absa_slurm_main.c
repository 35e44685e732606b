/* absa_slurm_main.c — the standalone `absa-slurm` helper for job scripts: the same as
 * `absa slurm ...` (slurm/cmd_slurm.c), usable before that subcommand is wired into `absa`. */
#include "absa_slurm.h"

int main(int argc, char **argv) { return absa_cmd_slurm(argc, argv); }
