/* dist_spawn.c — growth by MPI_Comm_spawn, in the background (see dist.h):
 *
 *   parents (every active rank), at an epoch end: a helper thread per rank calls MPI_Comm_spawn
 *     (same binary, same arguments + --dist-child, optional "host" info key) on a duplicate of the
 *     active communicator; parent rank 0's helper then waits (sleeping between MPI_Test calls) for
 *     a READY message from every child. Training goes on meanwhile. At every step boundary the
 *     ranks sum their flags (ready / failed / past the deadline) in the step's reduction and all
 *     take the same decision: merge now (MPI_Intercomm_merge, parents low, GO to the children),
 *     keep waiting, or give up (the helper, once the children arrive, merges and sends ABORT).
 *   children: MPI_Init, open the data and build the model, send READY to parent rank 0, merge as
 *     the high group, receive GO (or ABORT: exit quietly), then the state broadcast.
 * So the spawn and the children's setup overlap training; only the merge and the state broadcast
 * stop it. Before spawning, hopeless cases are refused (a placement host that does not resolve,
 * more ranks than slots without oversubscription), because Open MPI 4.1.4's mpirun, after a failed
 * launch, neither launches again nor exits at the end of the job: after any failed or given-up
 * spawn no other is tried, and a job whose MPI_Comm_spawn failed ends with MPI_Abort(0) once
 * everything is written (dist.c). Without MPI_THREAD_MULTIPLE the same steps run in the caller. */
#include "dist_impl.h"

#ifdef ABSA_HAVE_MPI
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>

#include "base_sys.h"

enum { F_READY = 0, F_FAILED = 1, F_LATE = 2 };

/* Collective over the merged communicator (parents and joined ranks, right after the GO): this
 * rank's index among the ranks of its host, ordered by merged rank. The parents keep the order
 * (and so the GPUs) they had; the joined ranks follow them, wherever the spawned job's own local
 * ranks restart at 0. */
static int node_index(absa_dist *d)
{
    MPI_Comm node = MPI_COMM_NULL;
    int idx = -1;
    if (MPI_Comm_split_type(d->comm, MPI_COMM_TYPE_SHARED, d->rank, MPI_INFO_NULL, &node) != MPI_SUCCESS)
        return -1;
    MPI_Comm_rank(node, &idx);
    MPI_Comm_free(&node);
    return idx;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int job_get(absa_spawn_job *j, const int *field)
{
    pthread_mutex_lock(&j->mu);
    int v = *field;
    pthread_mutex_unlock(&j->mu);
    return v;
}

/* MPI_Comm_spawn (blocking) */
static void do_spawn(absa_spawn_job *j)
{
    int *errs = absa_xcalloc((size_t)j->n_new, sizeof(int));
    MPI_Comm inter = MPI_COMM_NULL;
    int rc = MPI_Comm_spawn(j->exe, j->argv, j->n_new, j->info, 0, j->pcomm, &inter, errs);
    int ok = rc == MPI_SUCCESS;
    for (int i = 0; i < j->n_new; i++) ok &= errs[i] == MPI_SUCCESS;
    free(errs);
    pthread_mutex_lock(&j->mu);
    j->rc = rc;
    j->errs_ok = ok;
    j->inter = rc == MPI_SUCCESS ? inter : MPI_COMM_NULL; /* not a communicator after a failure */
    j->done = 1;
    j->t_done = absa_now();
    if (!ok || !j->collect_ready) {
        j->ready = ok;
        j->t_ready = j->t_done;
    }
    pthread_mutex_unlock(&j->mu);
}

/* parent rank 0: every child's READY (sleeping between tests: no core taken from training) */
static void wait_ready(absa_spawn_job *j)
{
    if (!j->collect_ready || j->inter == MPI_COMM_NULL || !j->errs_ok || job_get(j, &j->ready)) return;
    MPI_Request *rq = absa_xcalloc((size_t)j->n_new, sizeof(MPI_Request));
    int *word = absa_xcalloc((size_t)j->n_new, sizeof(int)), flag = 0;
    for (int i = 0; i < j->n_new; i++) MPI_Irecv(&word[i], 1, MPI_INT, i, ABSA_DIST_TAG_READY, j->inter, &rq[i]);
    while (!flag) {
        MPI_Testall(j->n_new, rq, &flag, MPI_STATUSES_IGNORE);
        if (!flag) sleep_ms(1);
    }
    free(rq);
    free(word);
    pthread_mutex_lock(&j->mu);
    j->ready = 1;
    j->t_ready = absa_now();
    pthread_mutex_unlock(&j->mu);
}

/* children that must not join: merge with them and send ABORT (they exit) */
static void dismiss(absa_spawn_job *j)
{
    if (j->inter == MPI_COMM_NULL) return;
    wait_ready(j); /* a child sends READY before it merges */
    MPI_Comm m;
    if (MPI_Intercomm_merge(j->inter, 0, &m) == MPI_SUCCESS) {
        int word = ABSA_DIST_ABORT;
        MPI_Bcast(&word, 1, MPI_INT, 0, m);
        MPI_Comm_free(&m);
    }
    MPI_Comm_free(&j->inter);
}

static void *spawn_helper(void *arg)
{
    absa_spawn_job *j = arg;
    do_spawn(j);
    wait_ready(j);
    pthread_mutex_lock(&j->mu);
    while (!j->decided) pthread_cond_wait(&j->cv, &j->mu);
    int merge = j->merge;
    pthread_mutex_unlock(&j->mu);
    if (!merge) dismiss(j);
    pthread_mutex_lock(&j->mu);
    j->finished = 1;
    pthread_mutex_unlock(&j->mu);
    return NULL;
}

static void job_free(absa_spawn_job *j)
{
    if (j->info != MPI_INFO_NULL) MPI_Info_free(&j->info);
    if (j->pcomm != MPI_COMM_NULL) MPI_Comm_free(&j->pcomm);
    pthread_mutex_destroy(&j->mu);
    pthread_cond_destroy(&j->cv);
    free(j);
}

int absa_dist_spawn_reap(absa_dist *d, double timeout_s)
{
    absa_spawn_job *j = d->pending;
    if (!j) return 1;
    double t0 = absa_now();
    while (!job_get(j, &j->finished)) {
        if (absa_now() - t0 > timeout_s) return 0;
        sleep_ms(5);
    }
    pthread_join(j->thread, NULL);
    job_free(j);
    d->pending = NULL;
    return 1;
}

/* Refuse what would fail inside mpirun: unresolvable placement hosts, more ranks than slots
 * without oversubscription. The same answer on every rank (same arguments and environment). */
static int spawn_precheck(const absa_dist *d, int target, char *err, size_t len)
{
    if (!d->oversubscribe && d->slots > 0 && target > d->slots && !d->spawn_host[0]) {
        snprintf(err, len, "%d ranks do not fit the %d slots of the allocation (no oversubscription)", target, d->slots);
        return 0;
    }
    char hosts[1024];
    snprintf(hosts, sizeof hosts, "%s", d->spawn_host);
    char *save = NULL;
    for (char *h = strtok_r(hosts, ",", &save); h; h = strtok_r(NULL, ",", &save)) {
        char *colon = strchr(h, ':'); /* host:slots */
        if (colon) *colon = 0;
        struct addrinfo hints, *res = NULL;
        memset(&hints, 0, sizeof hints);
        hints.ai_family = AF_UNSPEC;
        if (getaddrinfo(h, NULL, &hints, &res) != 0) {
            snprintf(err, len, "placement host '%.150s' (--spawn-host) does not resolve; spawn not attempted", h);
            return 0;
        }
        freeaddrinfo(res);
    }
    return 1;
}

void absa_dist_grow_flags(const absa_dist *d, double f[3])
{
    f[F_READY] = f[F_FAILED] = f[F_LATE] = 0;
    absa_spawn_job *j = d->growing;
    if (!j) return;
    pthread_mutex_lock(&j->mu);
    f[F_READY] = j->ready && j->errs_ok;
    f[F_FAILED] = j->done && !j->errs_ok;
    f[F_LATE] = !j->ready && absa_now() - j->t_start > d->spawn_timeout;
    pthread_mutex_unlock(&j->mu);
}

static int merge_now(absa_dist *d, absa_spawn_job *j, int threaded, absa_resize_cost *cost)
{
    if (threaded) pthread_join(j->thread, NULL);
    double t1 = absa_now();
    cost->spawn_s = j->t_done - j->t_start;
    cost->setup_wait_s = j->t_ready > j->t_done ? j->t_ready - j->t_done : 0;
    cost->background_s = t1 - j->t_start;
    MPI_Comm merged;
    MPI_Intercomm_merge(j->inter, 0, &merged);
    MPI_Comm_free(&j->inter);
    int go = ABSA_DIST_GO;
    MPI_Bcast(&go, 1, MPI_INT, 0, merged);
    MPI_Comm_free(&d->comm);
    d->comm = merged;
    MPI_Comm_size(d->comm, &d->size);
    MPI_Comm_rank(d->comm, &d->rank);
    (void)node_index(d); /* collective with the joined ranks' */
    cost->merge_s = absa_now() - t1;
    cost->ok = d->size == j->target;
    cost->to = d->size;
    d->growing = NULL;
    job_free(j);
    return 1;
}

int absa_dist_grow_settle(absa_dist *d, const double sums[3], int give_up, absa_resize_cost *cost)
{
    absa_spawn_job *j = d->growing;
    if (!j) return 0;
    memset(cost, 0, sizeof *cost);
    cost->from = cost->to = d->size;
    int threaded = d->thread_multiple;
    if (!give_up && sums[F_FAILED] == 0 && sums[F_LATE] == 0) {
        if (sums[F_READY] < d->size) return 0; /* keep training; ask again at the next step */
        pthread_mutex_lock(&j->mu);
        j->decided = j->merge = 1;
        pthread_cond_broadcast(&j->cv);
        pthread_mutex_unlock(&j->mu);
        return merge_now(d, j, threaded, cost);
    }
    pthread_mutex_lock(&j->mu);
    int done = j->done, rc = j->rc;
    j->decided = 1;
    j->merge = 0;
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
    cost->spawn_s = cost->background_s = absa_now() - j->t_start;
    if (sums[F_FAILED] > 0 && done && rc != MPI_SUCCESS) {
        char s[MPI_MAX_ERROR_STRING];
        int n = 0;
        if (MPI_Error_string(rc, s, &n) != MPI_SUCCESS) snprintf(s, sizeof s, "error %d", rc);
        snprintf(cost->error, sizeof cost->error, "MPI_Comm_spawn failed: %.200s", s);
    } else if (sums[F_FAILED] > 0) {
        snprintf(cost->error, sizeof cost->error, "MPI_Comm_spawn failed on another rank");
    } else if (sums[F_LATE] > 0) {
        snprintf(cost->error, sizeof cost->error, "spawn of %d ranks not ready within %.3g s (given up)", j->n_new, d->spawn_timeout);
    } else {
        snprintf(cost->error, sizeof cost->error, "the run stopped before the %d new ranks joined", j->n_new);
    }
    d->mpi_spawn_failed |= sums[F_FAILED] > 0;
    d->spawn_disabled = 1;
    d->growing = NULL;
    if (threaded) {
        d->pending = j; /* the helper dismisses the children when they arrive; reaped at the end */
    } else {
        dismiss(j);
        job_free(j);
    }
    return -1;
}

int absa_dist_spawn_begin(absa_dist *d, int target, absa_resize_cost *cost)
{
    if (!spawn_precheck(d, target, cost->error, sizeof cost->error)) return -1;
    absa_spawn_job *j = absa_xcalloc(1, sizeof *j);
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->cv, NULL);
    j->info = MPI_INFO_NULL;
    j->inter = MPI_COMM_NULL;
    j->exe = d->exe;
    j->argv = d->spawn_argv;
    j->n_new = target - d->size;
    j->target = target;
    j->collect_ready = d->rank == 0;
    j->t_start = absa_now();
    MPI_Comm_dup(d->comm, &j->pcomm);
    MPI_Comm_set_errhandler(j->pcomm, MPI_ERRORS_RETURN);
    if (d->spawn_host[0]) {
        MPI_Info_create(&j->info);
        MPI_Info_set(j->info, "host", d->spawn_host);
    }
    d->growing = j;
    if (d->thread_multiple && pthread_create(&j->thread, NULL, spawn_helper, j) == 0) return 0;
    d->thread_multiple = 0; /* no helper: spawn, agree and wait here */
    do_spawn(j);
    double f[3];
    absa_dist_grow_flags(d, f);
    f[F_READY] = f[F_LATE] = 0;
    MPI_Allreduce(MPI_IN_PLACE, f, 3, MPI_DOUBLE, MPI_SUM, d->comm);
    if (f[F_FAILED] == 0) {
        wait_ready(j);
        absa_dist_grow_flags(d, f);
        f[F_LATE] = 0;
        MPI_Allreduce(MPI_IN_PLACE, f, 3, MPI_DOUBLE, MPI_SUM, d->comm);
    }
    return absa_dist_grow_settle(d, f, 0, cost);
}

/* ---- the spawn growth backend ---- */

/* every launched rank is active; growth up to --max-ranks (default: the MPI universe size),
 * capped at the slots unless the launcher allows oversubscription or --spawn-host places them */
static void spawn_start(absa_dist *d, const absa_dist_opts *o, int under_srun)
{
    absa_dist_start_world(d);
    int slots = d->world_size, *usize = NULL, flag = 0;
    MPI_Comm_get_attr(MPI_COMM_WORLD, MPI_UNIVERSE_SIZE, &usize, &flag);
    if (flag && usize && *usize > slots) slots = *usize;
    d->slots = slots;
    d->max_ranks = o->max_ranks > 0 ? o->max_ranks : slots;
    if (d->max_ranks > slots && !d->oversubscribe && !d->spawn_host[0]) {
        snprintf(d->why + strlen(d->why), sizeof d->why - strlen(d->why),
                 "; --max-ranks %d capped to the %d slots of the allocation (mpirun --oversubscribe lifts this)",
                 d->max_ranks, slots);
        d->max_ranks = slots;
    }
    if (d->max_ranks < d->size) d->max_ranks = d->size;
    if (under_srun && !d->spawn_disabled)
        snprintf(d->why + strlen(d->why), sizeof d->why - strlen(d->why), " (under srun: spawn will most likely fail)");
}

static int spawn_can_grow(const absa_dist *d) { return !d->spawn_disabled; }

static int spawn_grow(absa_dist *d, int target, absa_resize_cost *cost)
{
    if (d->spawn_disabled) {
        snprintf(cost->error, sizeof cost->error, "spawning disabled after a failed spawn");
        return -1;
    }
    return absa_dist_spawn_begin(d, target, cost);
}

const absa_grow_ops absa_grow_spawn = {.name = "spawn", .start = spawn_start, .can_grow = spawn_can_grow, .grow = spawn_grow};

int absa_dist_join(absa_dist *d)
{
    if (d->parent == MPI_COMM_NULL) return d->role != ABSA_DIST_DISMISSED;
    int word = 1;
    MPI_Send(&word, 1, MPI_INT, 0, ABSA_DIST_TAG_READY, d->parent);
    MPI_Intercomm_merge(d->parent, 1, &d->comm);
    MPI_Comm_free(&d->parent);
    MPI_Comm_rank(d->comm, &d->rank);
    MPI_Comm_size(d->comm, &d->size);
    MPI_Bcast(&word, 1, MPI_INT, 0, d->comm);
    d->max_ranks = d->size; /* rank 0 decides growth targets; only its limit counts */
    absa_error_set_rank(d->rank);
    if (word == ABSA_DIST_GO) {
        d->joined_local = node_index(d); /* its GPU (device_pick.h); the parents keep theirs */
        return 1;
    }
    d->role = ABSA_DIST_DISMISSED;
    return 0;
}
#endif
