/* cli.h — subcommands of the `absa` binary. Each takes (argc, argv) with argv[0] = the
 * subcommand name, prints its own --help, and returns the process exit code (0 ok, 1 runtime
 * error with a one-line "absa <cmd>: error: ..." on stderr, 2 usage error: an unknown option or
 * a bad / missing option value, one line through absa_cli_usage or absa_cli_bad_option). */
#ifndef ABSA_CLI_H
#define ABSA_CLI_H

int absa_cmd_eig(int argc, char **argv);   /* src/cli/cmd_eig.c   */
int absa_cmd_bench(int argc, char **argv); /* src/cli/cmd_bench.c */
int absa_cmd_init(int argc, char **argv);  /* src/cli/cmd_init.c  */
int absa_cmd_train(int argc, char **argv); /* src/cli/cmd_train.c */
int absa_cmd_plot(int argc, char **argv);  /* src/cli/cmd_plot.c  */
int absa_cmd_pack(int argc, char **argv);  /* src/cli/cmd_pack.c */
int absa_cmd_info(int argc, char **argv);  /* src/cli/cmd_info.c */
int absa_cmd_serve(int argc, char **argv); /* src/cli/cmd_serve.c */
int absa_cmd_slurm(int argc, char **argv); /* src/cli/cmd_slurm.c */

#endif
