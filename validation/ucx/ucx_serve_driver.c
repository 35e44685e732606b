/* ucx_serve_driver.c — `ucx_serve_driver serve ARGS...` runs absa_cmd_serve(ARGS) exactly as
 * `absa serve` does, linking only absa_core: the UCX tests and the benchmark start the server
 * through it, so they do not depend on the rest of the absa binary (either binary works). */
#include <stdio.h>
#include <string.h>

int absa_cmd_serve(int argc, char **argv); /* src/cli/cmd_serve.c */

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "serve")) {
        fprintf(stderr, "usage: %s serve [absa serve options]\n", argv[0]);
        return 2;
    }
    return absa_cmd_serve(argc - 1, argv + 1);
}
