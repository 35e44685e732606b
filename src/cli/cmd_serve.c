/* cmd_serve.c — `absa serve`: stream mini-batch leases of a packed HDF5 split to trainer ranks
 * over UCX (ucx_server.h, docs/ucx.md). Parses the options, loads the shared secret and runs the
 * server until it is stopped (SIGINT/SIGTERM) or the requested epochs are served. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cli_util.h"
#include "ucx_door.h"
#include "ucx_server.h"
#include "ucx_util.h"

#define ABSA_SERVE_DEFAULT_BUDGET_MIB 4096

static void serve_help(void)
{
    printf("usage: absa serve --data FILE.h5 [options]\n\n"
           "Stream mini-batches of a packed dataset to training ranks over UCX (docs/ucx.md).\n"
           "Every sample is committed exactly once per epoch, whatever ranks join, leave or crash.\n\n"
           "  --data FILE.h5        packed dataset (absa pack)                  (required)\n"
           "  --split NAME          split to serve                              (default train)\n"
           "  --listen HOST:PORT    address to bind; port 0 = any free port     (default %s)\n"
           "  --address-file F      write ucx://IP:PORT to F once listening (for job scripts)\n"
           "  --seed S              permutation seed                            (default 0)\n"
           "  --epochs E            stop after E epochs and the last client     (default 0 = never)\n"
           "  --memory-budget MIB   RAM for images, else chunks; 0 = chunks     (default %d)\n"
           "  --batch-max N         largest lease a client may request          (default %d, at most 64 MiB)\n"
           "  --secret-file F       shared secret (file mode 0600)              (default: env ABSA_SECRET)\n"
           "  --hello-timeout SEC   drop connections that do not authenticate   (default 10)\n"
           "  --max-pending N       unauthenticated connections at once         (default %d)\n"
           "  --max-pending-per-peer N   ... of them from one IP address        (default %d)\n"
           "  --lease-timeout SEC   a client silent this long (stopped, hung) loses its leases to\n"
           "                        other clients; its late commits are refused (default %.0f, 0 = never)\n"
           "  --no-shared-split     never let same-node clients read the split from this\n"
           "                        process's memory (they then get images over UCX too)\n"
           "  --audit FILE          log every committed sample as 'EPOCH ID', and rewinds (testing)\n"
           "  --quiet               log only drops and errors\n"
           "  -h, --help            this help\n\n"
           "Clients authenticate at a TCP front door on --listen (HMAC-SHA256 challenge with the\n"
           "shared secret) before they get the UCX worker's address. UCX's network transports use\n"
           "the interface of --listen unless UCX_NET_DEVICES is set. Clients connect with\n"
           "--data ucx://HOST:PORT. A client on the same node (same user) reads the images itself\n"
           "from the split in RAM, mapped read-only (sealed), and gets only ids and labels over\n"
           "UCX; elsewhere, and with --no-shared-split or ABSA_UCX_LOCAL=0 on either side, images\n"
           "come over UCX (shared memory where UCX_TLS allows it). A dead client is seen through\n"
           "its front-door connection. ABSA_UCX_ERR_MODE=peer (server and clients) selects UCX's\n"
           "peer error handling instead: tcp only, slower.\n",
           ABSA_UCX_DEFAULT_LISTEN, ABSA_SERVE_DEFAULT_BUDGET_MIB, ABSA_UCX_DEFAULT_BATCH_MAX,
           ABSA_DOOR_DEFAULT_MAX_PENDING, ABSA_DOOR_DEFAULT_MAX_PER_PEER, ABSA_UCX_DEFAULT_LEASE_TIMEOUT);
}

int absa_cmd_serve(int argc, char **argv)
{
    const char *cmd = "serve", *secret_file = NULL;
    absa_ucx_server_opts o;
    int rc, budget_mib = ABSA_SERVE_DEFAULT_BUDGET_MIB, bmax = 0;
    int maxp = ABSA_DOOR_DEFAULT_MAX_PENDING, maxpp = ABSA_DOOR_DEFAULT_MAX_PER_PEER;
    double hello = 10.0, lease_timeout = ABSA_UCX_DEFAULT_LEASE_TIMEOUT;
    memset(&o, 0, sizeof o);
    o.split = "train";
    o.listen = ABSA_UCX_DEFAULT_LISTEN;
    static const struct option opts[] = {
        {"data", required_argument, 0, 'd'},         {"split", required_argument, 0, 's'},
        {"listen", required_argument, 0, 'l'},       {"address-file", required_argument, 0, 'a'},
        {"seed", required_argument, 0, 'S'},         {"epochs", required_argument, 0, 'e'},
        {"memory-budget", required_argument, 0, 'm'}, {"batch-max", required_argument, 0, 'b'},
        {"secret-file", required_argument, 0, 'k'},  {"hello-timeout", required_argument, 0, 't'},
        {"audit", required_argument, 0, 'A'},        {"quiet", no_argument, 0, 'q'},
        {"lease-timeout", required_argument, 0, 'L'}, {"no-shared-split", no_argument, 0, 'N'},
        {"max-pending", required_argument, 0, 'P'},  {"max-pending-per-peer", required_argument, 0, 'p'},
        {"help", no_argument, 0, 'h'},               {0, 0, 0, 0}};
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': o.data = optarg; break;
        case 's': o.split = optarg; break;
        case 'l': o.listen = optarg; break;
        case 'a': o.address_file = optarg; break;
        case 'S': if ((rc = absa_arg_u64(cmd, "--seed", optarg, &o.seed))) return rc; break;
        case 'e': if ((rc = absa_arg_u64(cmd, "--epochs", optarg, &o.epochs))) return rc; break;
        case 'm': if ((rc = absa_arg_int(cmd, "--memory-budget", optarg, 0, 1 << 30, &budget_mib))) return rc; break;
        case 'b': if ((rc = absa_arg_int(cmd, "--batch-max", optarg, 1, (long)ABSA_UCX_MAX_BATCH, &bmax))) return rc; break;
        case 'k': secret_file = optarg; break;
        case 't': if ((rc = absa_arg_double(cmd, "--hello-timeout", optarg, 0.1, 86400, &hello))) return rc; break;
        case 'L': if ((rc = absa_arg_double(cmd, "--lease-timeout", optarg, 0, 4e6, &lease_timeout))) return rc; break;
        case 'A': o.audit_file = optarg; break;
        case 'P': if ((rc = absa_arg_int(cmd, "--max-pending", optarg, 1, 100000, &maxp))) return rc; break;
        case 'p': if ((rc = absa_arg_int(cmd, "--max-pending-per-peer", optarg, 1, 100000, &maxpp))) return rc; break;
        case 'q': o.quiet = 1; break;
        case 'N': o.no_shared_split = 1; break;
        case 'h': serve_help(); return 0;
        default: return absa_cli_bad_option(cmd, c, argv);
        }
    }
    if (optind < argc) return absa_cli_usage(cmd, "unexpected argument '%s'", argv[optind]);
    if (!o.data) return absa_cli_usage(cmd, "--data is required");
    struct sockaddr_storage ss;
    socklen_t sl;
    if (absa_ucx_parse_addr(o.listen, &ss, &sl) != ABSA_OK) return absa_cli_usage(cmd, "--listen: %s", absa_last_error());
    if (absa_ucx_load_secret(secret_file, o.secret, &o.secret_len) != ABSA_OK)
        return absa_cli_error(cmd, "%s", absa_last_error());
    o.memory_budget = (size_t)budget_mib << 20;
    o.batch_max = (uint32_t)bmax;
    o.hello_timeout_s = hello;
    o.lease_timeout_s = lease_timeout;
    o.max_pending = maxp;
    o.max_pending_peer = maxpp;
    absa_status st = absa_ucx_server_run(&o);
    memset(o.secret, 0, sizeof o.secret);
    if (st != ABSA_OK) return absa_cli_error(cmd, "%s", absa_last_error());
    return 0;
}
