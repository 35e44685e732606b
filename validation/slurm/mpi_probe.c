/* mpi_probe.c — an MPI program that does what the trainer's launch needs, without the trainer:
 * started as ONE rank by mpirun, it grows with MPI_Comm_spawn + MPI_Intercomm_merge by doubling
 * (1 -> 2 -> 4 ... up to MAX) and reports where every rank runs (Slurm node, job step) and what
 * each resize cost; with `term` it then waits for SIGTERM (blocked, polled at "step" boundaries
 * with sigtimedwait, as the trainer does), agrees on stopping over an allreduce, lets rank 0 write
 * a marker file ("checkpoint") after a delay and exits 0 on every rank.
 *
 * Usage: mpi_probe MAX [term MARKER_FILE DELAY_S]
 * Output (rank 0 unless noted): "resize A -> B spawn=S merge=M total=T", "rank R/N node=X
 * step=Y pid=P" (every rank), "stop: signal S seen by N ranks", "marker written". Exit 0 = ok. */
#include <mpi.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *env_or(const char *k, const char *d)
{
    const char *v = getenv(k);
    return v ? v : d;
}

int main(int argc, char **argv)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* before MPI starts its threads */
    int child = argc > 1 && !strcmp(argv[1], "--child");
    char **args = argv + (child ? 2 : 1);
    int nargs = argc - (child ? 2 : 1);
    if (nargs < 1) {
        fprintf(stderr, "usage: mpi_probe MAX [term MARKER DELAY_S]\n");
        return 2;
    }
    int max = atoi(args[0]);
    int term = nargs >= 4 && !strcmp(args[1], "term");
    MPI_Init(&argc, &argv);
    MPI_Comm comm, parent;
    MPI_Comm_get_parent(&parent);
    if (parent == MPI_COMM_NULL) {
        MPI_Comm_dup(MPI_COMM_WORLD, &comm);
    } else { /* the parents' side of this is in the loop below: merge, then count */
        MPI_Intercomm_merge(parent, 1, &comm);
        MPI_Comm_free(&parent);
        int one = 1, n = 0;
        MPI_Allreduce(&one, &n, 1, MPI_INT, MPI_SUM, comm);
    }
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    /* everyone (old and new) takes part in every later spawn */
    while (size < max) {
        int target = 2 * size < max ? 2 * size : max, add = target - size;
        char **cargv = calloc((size_t)nargs + 2, sizeof *cargv);
        cargv[0] = "--child";
        for (int i = 0; i < nargs; i++) cargv[i + 1] = args[i];
        MPI_Barrier(comm);
        double t0 = MPI_Wtime();
        MPI_Comm inter, merged;
        int *errs = calloc((size_t)add, sizeof *errs);
        int rc = MPI_Comm_spawn(argv[0], cargv, add, MPI_INFO_NULL, 0, comm, &inter, errs);
        double t1 = MPI_Wtime();
        MPI_Intercomm_merge(inter, 0, &merged);
        MPI_Comm_free(&inter);
        int one = 1, n = 0;
        MPI_Allreduce(&one, &n, 1, MPI_INT, MPI_SUM, merged);
        double t2 = MPI_Wtime();
        if (rank == 0)
            printf("resize %d -> %d rc=%d spawn=%.3f merge=%.3f total=%.3f\n", size, n, rc, t1 - t0, t2 - t1, t2 - t0);
        fflush(stdout);
        free(errs);
        free(cargv);
        MPI_Comm_free(&comm);
        comm = merged;
        MPI_Comm_rank(comm, &rank);
        MPI_Comm_size(comm, &size);
    }
    /* a spawned child that arrives here has joined the last resize; children of earlier
     * resizes took part in the later ones through the loop above */
    printf("rank %d/%d node=%s step=%s.%s pid=%d\n", rank, size, env_or("SLURMD_NODENAME", "?"),
           env_or("SLURM_JOB_ID", "?"), env_or("SLURM_STEP_ID", "?"), (int)getpid());
    fflush(stdout);
    int rc = 0;
    if (term) {
        double delay = atof(args[3]);
        struct timespec zero = {0, 0};
        int sig = 0, seen = 0, late = 0;
        for (long step = 0; step < 200000; step++) { /* "steps" of 20 ms, at most ~1 h */
            struct timespec ts = {0, 20 * 1000 * 1000};
            nanosleep(&ts, NULL);
            int s = sigtimedwait(&set, NULL, &zero);
            if (s > 0) sig = s;
            int mine = sig > 0, any = 0;
            MPI_Allreduce(&mine, &any, 1, MPI_INT, MPI_SUM, comm);
            /* the launcher signals the ranks one by one: once one has it, give the others up to
             * 1 s (50 steps) to see theirs, so seen counts every rank the signal reached */
            if (any) {
                seen = any;
                if (any == size || ++late > 50) break;
            }
        }
        struct timespec t_stop;
        clock_gettime(CLOCK_REALTIME, &t_stop);
        int sigmax = 0;
        MPI_Allreduce(&sig, &sigmax, 1, MPI_INT, MPI_MAX, comm);
        if (rank == 0) {
            printf("stop: signal %d seen by %d of %d ranks\n", sigmax, seen, size);
            fflush(stdout);
            struct timespec d = {(time_t)delay, (long)((delay - (double)(time_t)delay) * 1e9)};
            nanosleep(&d, NULL); /* "writing the checkpoint" */
            FILE *f = fopen(args[2], "w");
            if (f) {
                struct timespec t_done;
                clock_gettime(CLOCK_REALTIME, &t_done);
                fprintf(f, "ranks %d signal %d seen_by %d stop_at %.3f written_at %.3f\n", size, sigmax, seen,
                        (double)t_stop.tv_sec + 1e-9 * (double)t_stop.tv_nsec,
                        (double)t_done.tv_sec + 1e-9 * (double)t_done.tv_nsec);
                rc = fclose(f) != 0;
            } else {
                rc = 1;
            }
            printf("marker %s\n", rc ? "NOT written" : "written");
            fflush(stdout);
        }
        MPI_Barrier(comm);
    }
    MPI_Comm_free(&comm);
    MPI_Finalize();
    return rc;
}
