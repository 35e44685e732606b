#!/usr/bin/env python3
"""bench_handoff.py — what growth by hand-off (ABSA_ALLOC=handoff, docs/slurm.md) cost a run, from
the run's own records in RUN_DIR/metrics.jsonl:

  * per hand-off (resize records of kind "handoff"): the jobs, ranks before/after, the new job's
    queue wait, and the training pause (old trainer's last step to the new trainer's first, split
    into the old checkpoint write, the new job's wait for the go and its checkpoint read/set-up);
  * slot-hours: each job's training slots x its time from the script's start to its end ("start"
    and "end" records), against holding the largest number of slots for the whole chain
    (first start to last end), which is what ABSA_ALLOC=hold would have cost for the same timeline.

Usage: bench_handoff.py RUN_DIR [RUN_DIR...]   (python3 with the standard library only)
Exit status 1 when a run has no hand-off records. Pure report: no timing assertions."""
import json
import sys


def report(run):
    rows = []
    with open(run + "/metrics.jsonl") as f:
        for line in f:
            try:
                rows.append(json.loads(line))
            except ValueError:
                pass
    hand = [r for r in rows if r.get("type") == "resize" and r.get("kind") == "handoff"]
    ev = [r for r in rows if r.get("type") == "handoff"]
    print("run %s" % run)
    if not ev:
        print("  no hand-off records (ABSA_ALLOC=hold?)")
        return False
    print("  %-14s %-5s %-9s %-13s %-9s %-11s %-10s %-9s" % ("hand-off", "ranks", "queued s", "pause s", "ckpt w s",
                                                            "wait go s", "read s", "orphan"))
    for r in hand:
        p = r.get("pause_s")
        print("  %-14s %-5s %-9.1f %-13s %-9.3f %-11.3f %-10.3f %-9s" % (
            "%s -> %s" % (r["from_job"], r["to_job"]), "%d->%d" % (r["from"], r["to"]), r["queue_wait_s"],
            "%.3f" % p if p is not None else "n/a", r["ckpt_write_s"], r["ready_wait_s"], r["resume_s"], r["orphan"]))
    # jobs: slots and the time each held them
    jobs = {}
    for r in ev:
        j = jobs.setdefault(r["job"], {})
        if r["event"] == "start":
            j.update(start=r["time"], slots=r["slots"], queued=r.get("queue_wait_s", 0))
        elif r["event"] == "end":
            j["end"] = r["time"]
        elif r["event"] == "released":
            j.setdefault("released", r["time"])
    held, t0, t1, top = 0.0, None, None, 0
    print("  %-8s %-6s %-10s %-10s %-9s" % ("job", "slots", "held s", "queued s", "note"))
    for jid, j in sorted(jobs.items(), key=lambda kv: kv[1].get("start", 1e30)):
        if "start" not in j:
            continue
        end = j.get("end", j.get("released"))
        note = "" if "end" in j else "no end record: until its release"
        if end is None:
            note, end = "still running?", j["start"]
        held += j["slots"] * (end - j["start"])
        t0 = j["start"] if t0 is None else min(t0, j["start"])
        t1 = end if t1 is None else max(t1, end)
        top = max(top, j["slots"])
        print("  %-8s %-6d %-10.1f %-10.1f %-9s" % (jid, j["slots"], end - j["start"], j["queued"], note))
    if t0 is not None:
        hold = top * (t1 - t0)
        print("  training slot-hours held: %.4f (%.1f slot-s); holding %d slots from the start: %.4f (%.1f slot-s); "
              "saved %.0f%%" % (held / 3600, held, top, hold / 3600, hold, 100 * (1 - held / hold) if hold > 0 else 0))
    pauses = [r["pause_s"] for r in hand if r.get("pause_s") is not None]
    if pauses:
        print("  training pause per hand-off: %s s (max %.3f)" % (", ".join("%.3f" % p for p in pauses), max(pauses)))
    return True


def main(argv):
    if len(argv) < 2:
        print(__doc__.strip().split("\n\n")[-1].split("\n")[0], file=sys.stderr)
        return 2
    ok = True
    for run in argv[1:]:
        ok = report(run) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
