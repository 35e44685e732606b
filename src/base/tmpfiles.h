/* tmpfiles.h — temporary output files named after their writer's process id
 * (checkpoint.h5.tmp.<pid>, metrics.jsonl.tmp.<pid>, OUT.h5.partial-<pid>): the sweep of the ones
 * a killed process left behind, and their removal when SIGINT/SIGTERM/SIGHUP ends the writer. */
#ifndef ABSA_TMPFILES_H
#define ABSA_TMPFILES_H

/* Remove every entry of dir named <prefix><pid> (pid: decimal digits only) whose process is not
 * alive on this host (kill(pid, 0) fails with ESRCH). Another host's writer on a shared file
 * system cannot be told from a dead one, so sweep only directories this process owns. Returns
 * the number of files removed (0 when dir cannot be read). */
int absa_tmp_sweep(const char *dir, const char *prefix);

/* While a temporary file is being written: SIGINT, SIGTERM and SIGHUP (when not ignored) remove
 * `path` and then end the process as the signal would have. The path is kept in one
 * process-wide slot owned by this module (one guarded file at a time); absa_tmp_guard(NULL)
 * disarms it and restores the previous handlers. Not for `absa train`, which blocks those
 * signals and polls them (train_signal.h). */
void absa_tmp_guard(const char *path);
#endif
